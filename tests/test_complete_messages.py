"""Every message is complete (issue 18): merged, exported as a draft or as sent, and sent.

Each is parsed with ``policy.strict`` and must have no defect, a Date that parses, one
MIME-Version, a Message-ID exactly where the rules want one (none in a draft), an HTML part in
the letter's language (BCP 47), light only and with its colours said, and body lines of at
most 76 characters (RFC 2045).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from click.testing import CliRunner
from sqlalchemy import select
from test_after_sending import SMALL, _as, _sent, _zip
from test_languages import DIFFERENTIATORS, MERGE_CSV

from recruiter.models import Application, Candidate, FrozenLetter, Letter
from recruiter.services import files
from recruiter.services.mail import Envelope, Mail, build_message, build_messages
from recruiter.services.test_letter import build_test_letter

_HTML_LANG = re.compile(r'<html lang="([^"]+)"')


def complete(data: bytes, *, message_id: bool, lang: str) -> EmailMessage:
    """The message parsed strictly, after checking everything issue 18 asks of it."""
    msg = BytesParser(policy=policy.strict).parsebytes(data)
    for part in msg.walk():
        assert not part.defects, (part.get_content_type(), part.defects)
    when = parsedate_to_datetime(str(msg["Date"]))
    assert when.tzinfo is not None and when.utcoffset().total_seconds() == 0  # dated in UTC
    assert len(re.findall(rb"(?im)^mime-version:", data)) == 1
    assert len(msg.get_all("Date")) == 1
    if message_id:
        assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", str(msg["Message-ID"]))
    else:
        assert msg["Message-ID"] is None and b"message-id" not in data.lower()
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Reply-To"] is not None
    html = msg.get_body(("html",)).get_content()
    assert _HTML_LANG.search(html).group(1) == lang
    assert '<meta name="color-scheme" content="light">' in html
    assert '<meta name="supported-color-schemes" content="light">' in html
    body = re.search(r'<body [^>]*style="([^"]*)"', html).group(1)
    container = re.search(r'<body [^>]*><div style="([^"]*)"', html).group(1)
    for style in (body, container):
        assert "background-color: #ffffff" in style and "color: #1f2933" in style
    for part in msg.walk():
        if part.is_multipart():
            continue
        for line in part.get_payload().splitlines():  # the body as encoded, as sent
            length = len(line.encode("ascii", "surrogateescape"))  # 8bit: bytes as parsed
            assert length <= 76, (part["Content-Transfer-Encoding"], line)
    return msg


def _quoted_printable(msg: EmailMessage) -> bool:
    return any(p["Content-Transfer-Encoding"] == "quoted-printable" for p in msg.walk())


# --- the one builder --------------------------------------------------------------------------

def test_builder_dates_and_wraps_every_message() -> None:
    """Without a date, now in UTC; long text lines are quoted-printable in 76 characters."""
    envelope = Envelope("Jordan Reyes", "hiring@harbourair.example.com", "Zoë Lefebvre",
                        "zoe@example.net", "<1@harbourair.example.com>",
                        "people@harbourair.example.com")
    text = "Merci d'avoir postulé. " * 20
    html = "<p>" + "Merci d'avoir postulé, vraiment. " * 20 + "</p>"
    before = datetime.now(UTC).replace(microsecond=0)
    single = build_message(envelope, subject="Votre candidature", text=text, html=html,
                           language="fr_CA", pdf=b"%PDF-1.7\n" + bytes(range(256)) * 8)
    msg = complete(single.as_bytes(), message_id=True, lang="fr-CA")
    assert before <= parsedate_to_datetime(str(msg["Date"])) <= datetime.now(UTC)
    assert _quoted_printable(msg)
    batch = build_messages([Mail(envelope, "Votre candidature", text, html, "fr")])[0]
    assert _quoted_printable(complete(batch, message_id=True, lang="fr"))
    draft = build_message(Envelope("J", "hiring@example.com", "Z", "z@example.net", None,
                                   "hiring@example.com"),
                          subject="S", text="t", html="<p>t</p>", language="de-AT")
    complete(draft.as_bytes(), message_id=False, lang="de-AT")


# --- merge ------------------------------------------------------------------------------------

def test_merged_eml_is_complete_with_a_fresh_message_id(tmp_path: Path) -> None:
    """``recruiter merge --format eml``: meant to be mailed by the user, so a Message-ID each."""
    from recruiter.cli import merge_command

    source = tmp_path / "candidates.csv"
    source.write_text(MERGE_CSV, encoding="utf-8")
    result = CliRunner().invoke(merge_command, [
        str(source), "--position", "Operations Coordinator", "--differentiator",
        "hands-on aviation operations experience", "--format", "eml",
        "--sender-email", "hiring@harbourair.example.com",
        "--differentiator-in", "fr", DIFFERENTIATORS["fr"],
        "--out", str(tmp_path / "out")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    french = complete(next(out.glob("*-lefebvre-*.eml")).read_bytes(), message_id=True,
                      lang="fr")
    english = complete(next(out.glob("*-okafor-*.eml")).read_bytes(), message_id=True,
                       lang="en")
    assert french["Message-ID"] != english["Message-ID"]
    assert french["Date"] == english["Date"]  # one batch, one moment
    assert len(list(out.glob("*.eml"))) == 3


# --- export and send (an en_CA organization) --------------------------------------------------

def test_exported_draft_eml_is_complete_without_message_id(app, client, db, login,
                                                           make_position) -> None:  # noqa: ANN001
    """A draft ZIP's .eml: dated now, in en-CA, and still without a Message-ID."""
    member = login("manager")
    member.organization.locale = "en_CA"
    db.commit()
    position = make_position(org=member.organization, csv=SMALL)
    assert _as(client, "GET", f"/positions/{position.id}/letters").status_code == 200
    _, archive = _zip(client, position)
    emls = [n for n in archive.namelist() if n.endswith(".eml")]
    assert len(emls) == 3
    for entry in emls:
        complete(archive.read(entry), message_id=False, lang="en-CA")
    letter = db.scalars(select(Letter).join(Application).join(Candidate)
                        .where(Application.position_id == position.id,
                               Candidate.first_name == "Daniel")).one()
    complete(files.letter_eml(letter), message_id=False, lang="en-CA")  # one draft download
    _, _, message_id, data = build_test_letter(letter, member)  # a test letter, too
    assert complete(data, message_id=True, lang="en-CA")["Message-ID"] == message_id


def test_sent_and_exported_eml_are_the_frozen_bytes_and_complete(app, client, db, login,
                                                                 make_position) -> None:  # noqa: ANN001
    """Sent: the outbox holds the frozen bytes, dated when frozen, with the frozen Message-ID."""
    member, position = _sent(client, login, make_position)
    frozen = {row.first_name: row for row in db.execute(
        select(Candidate.first_name, FrozenLetter.eml, FrozenLetter.message_id,
               FrozenLetter.frozen_at)
        .join(Letter, Letter.id == FrozenLetter.letter_id).join(Application).join(Candidate)
        .where(Application.position_id == position.id, FrozenLetter.eml.isnot(None)))}
    assert set(frozen) == {"Daniel", "Zoë", "Arjun"}
    outbox = Path(unquote(urlparse(app.config["MAIL_URL"]).path))
    sent = {p.read_bytes() for p in outbox.glob("*.eml")}
    _, archive = _zip(client, position)
    for first, entry in (("Daniel", "004-okafor-daniel.eml"), ("Zoë", "002-lefebvre-zoe.eml")):
        row = frozen[first]
        assert row.eml in sent and archive.read(entry) == row.eml
        msg = complete(row.eml, message_id=True, lang="en")
        assert msg["Message-ID"] == row.message_id
        at = row.frozen_at if row.frozen_at.tzinfo else row.frozen_at.replace(tzinfo=UTC)
        assert parsedate_to_datetime(str(msg["Date"])) == at.replace(microsecond=0)
    assert len(sent) == 3 and all(complete(x, message_id=True, lang="en") for x in sent)
