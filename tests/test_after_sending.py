"""After sending: the page says how the batch went, letter by letter; files carry names.

Also: the print bundle is offered only when a letter goes by post, and a ZIP of drafts is
marked as such and holds no message that could be mailed as the real letter.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from email import message_from_bytes, policy
from urllib.parse import unquote

from conftest import VANCOUVER
from flask import g
from flask.testing import FlaskClient
from sqlalchemy import select
from test_queries import candidates_csv, counting

from recruiter.extensions import db as _db
from recruiter.models import (
    Application,
    Candidate,
    Delivery,
    FrozenLetter,
    Letter,
    Organization,
    Position,
)
from recruiter.services import files
from recruiter.services.orgtime import org_zone

ROWS = VANCOUVER.read_text(encoding="utf-8").splitlines()
# The hire, three emailed letters (Daniel, Zoë, Arjun) and one for post (Ahmed).
SMALL = "\n".join([ROWS[0], *[r for r in ROWS if r.startswith(("Maya,", "Daniel,", "Zoë,",
                                                               "Arjun,", "Ahmed,"))]]).encode()
BY_EMAIL = "\n".join([ROWS[0], *[r for r in ROWS if r.startswith(("Maya,", "Daniel,",
                                                                  "Zoë,"))]]).encode()
NO_HOLD = {"send_at": ""}
AUDIT_LINK = re.compile(r'href="/audit/letters/(\d+)"')


def _as(client: FlaskClient, method: str, url: str, **kwargs):  # noqa: ANN003, ANN202
    """One request; the tests share an app context, where Flask-Login caches the user on g."""
    g.pop("_login_user", None)
    return client.open(url, method=method, **kwargs)


def _text(page: str) -> str:
    """The page's words without tags, on one line."""
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


def _approve(client: FlaskClient, position: Position, count: int) -> None:
    page = _as(client, "GET", f"/positions/{position.id}/letters")
    without_note = re.findall(r'name="without_note" value="(\d+)"', page.text)
    response = _as(client, "POST", f"/positions/{position.id}/letters/approve",
                   data={"expected_count": str(count), "acknowledge": "y",
                         "without_note": without_note})
    assert response.status_code == 302


def _sent(client: FlaskClient, login, make_position, csv: bytes = SMALL, count: int = 4):  # noqa: ANN001, ANN202
    """A manager's position whose letters were approved and sent (the queue runs inline)."""
    member = login("manager")
    position = make_position(org=member.organization, csv=csv)
    _approve(client, position, count)
    response = _as(client, "POST", f"/positions/{position.id}/send", data=NO_HOLD)
    assert response.status_code == 302
    return member, position


def _deliveries(db, position: Position) -> dict[str, Delivery]:  # noqa: ANN001
    """The position's deliveries by candidate first name."""
    db.rollback()
    rows = db.execute(select(Delivery, Candidate.first_name).join(Letter)
                      .join(Application).join(Candidate)
                      .where(Application.position_id == position.id)).all()
    return {name: delivery for delivery, name in rows}


def _when(db, org_id: int, delivery: Delivery) -> tuple[str, str]:  # noqa: ANN001
    """The delivery's sent time as the page writes it, in a sentence and in the table."""
    local = delivery.sent_at.astimezone(org_zone(db.get(Organization, org_id)))
    return (f"{local.day} {local:%B %Y} at {local:%H:%M}",
            f"{local.day} {local:%b %Y, %H:%M}")


def test_a_finished_batch_says_so_and_lists_every_letter(app, client, db, login,
                                                         make_position) -> None:  # noqa: ANN001
    """All sent: one sentence with the day and time, and a row per letter with its reply."""
    member, position = _sent(client, login, make_position)
    _as(client, "POST", f"/positions/{position.id}/posted")  # the postal letter was mailed
    login("admin", org=member.organization)  # admins see the audit links
    page = _as(client, "GET", f"/positions/{position.id}/sending").text
    words = _text(page)
    deliveries = _deliveries(db, position)
    last = max(deliveries.values(), key=lambda d: d.sent_at)
    sentence, _ = _when(db, member.organization_id, last)
    assert f"All 4 letters were sent on {sentence}." in words
    assert "emails now" not in words
    table = page[page.index('data-testid="recipients"'):]
    assert sorted(int(i) for i in AUDIT_LINK.findall(table)) == sorted(
        d.letter_id for d in deliveries.values())
    for name in ("Daniel", "Arjun"):
        delivery = deliveries[name]
        row = _text(table[table.index(f"/audit/letters/{delivery.letter_id}") - 900:
                          table.index(f"/audit/letters/{delivery.letter_id}")])
        assert delivery.server_reply and delivery.server_reply in row
        assert _when(db, member.organization_id, delivery)[1] in row
        assert "email" in row and "sent" in row
    assert "Confirmed as posted by Manager" in _text(table)
    assert "Ahmed Hassan" in _text(table) and "mailed" in _text(table)


def test_failed_and_in_doubt_letters_are_counted_and_listed_with_reasons(
        app, client, db, login, make_position) -> None:  # noqa: ANN001
    """A failed and a doubtful letter: "1 sent, 1 failed, 1 in doubt, 1 to post: see below"."""
    member, position = _sent(client, login, make_position)
    deliveries = _deliveries(db, position)
    failed, doubt = deliveries["Daniel"], deliveries["Zoë"]
    failed.state, failed.last_error = "failed", "550 5.1.1 mailbox unavailable"
    doubt.state, doubt.last_error = "in_doubt", "connection lost after the message was sent"
    db.commit()
    page = _as(client, "GET", f"/positions/{position.id}/sending").text
    assert "1 sent, 1 failed, 1 in doubt, 1 to post: see below." in _text(page)
    assert "were sent on" not in page
    table = _text(page[page.index('data-testid="recipients"'):])
    assert "550 5.1.1 mailbox unavailable" in table
    assert "connection lost after the message was sent" in table
    assert "failed" in table and "in doubt" in table and "to post" in table
    assert "/audit/letters/" not in page[page.index('data-testid="recipients"'):]  # a manager

    _as(client, "POST", f"/deliveries/{doubt.id}/mark_sent",
        data={"reason": "She confirmed it by phone."})
    page = _as(client, "GET", f"/positions/{position.id}/sending").text
    assert "2 sent, 1 failed, 1 to post: see below." in _text(page)
    table = _text(page[page.index('data-testid="recipients"'):])
    assert "Marked as sent by Manager" in table and "She confirmed it by phone." in table


def test_a_batch_under_way_shows_what_is_left(app, client, db, login, make_position) -> None:  # noqa: ANN001
    """While letters are queued the page says how many left and how many are to go."""
    _, position = _sent(client, login, make_position)
    deliveries = _deliveries(db, position)
    deliveries["Daniel"].state = "queued"
    deliveries["Zoë"].state, deliveries["Zoë"].last_error = "retry_wait", "421 try later"
    db.commit()
    page = _as(client, "GET", f"/positions/{position.id}/sending").text
    words = _text(page)
    assert "Sending: 1 of 4 letters sent so far, 2 to go (1 waiting to retry" in words
    assert "This page refreshes itself until every letter has left." in words
    assert '<meta http-equiv="refresh" content="15">' in page
    assert "were sent on" not in words and "421 try later" in words
    deliveries["Arjun"].state = "failed"  # someone must act: the page stays still for them
    db.commit()
    page = _as(client, "GET", f"/positions/{position.id}/sending").text
    assert 'http-equiv="refresh"' not in page and "reload the page" in page


def test_the_print_bundle_is_offered_only_when_a_letter_goes_by_post(
        app, client, db, login, make_position) -> None:  # noqa: ANN001
    """No postal letter: no button on the letters or sending page, and the URL says why."""
    member, position = _sent(client, login, make_position, csv=BY_EMAIL, count=2)
    for url in (f"/positions/{position.id}/letters", f"/positions/{position.id}/sending",
                f"/positions/{position.id}"):
        page = _as(client, "GET", url).text
        assert "Letters for post" not in page and "post-letters.pdf" not in page, url
    response = _as(client, "GET", f"/positions/{position.id}/post-letters.pdf",
                   follow_redirects=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "No letter of this position goes by post, so there is nothing to print." in \
        _text(response.text)

    with_post = make_position(org=member.organization, csv=SMALL, title="Dispatcher")
    page = _as(client, "GET", f"/positions/{with_post.id}/letters").text
    assert f'href="/positions/{with_post.id}/post-letters.pdf"' in page
    _approve(client, with_post, 4)
    _as(client, "POST", f"/positions/{with_post.id}/send", data=NO_HOLD)
    page = _as(client, "GET", f"/positions/{with_post.id}/sending").text
    assert f'href="/positions/{with_post.id}/post-letters.pdf"' in page
    bundle = _as(client, "GET", f"/positions/{with_post.id}/post-letters.pdf")
    assert bundle.mimetype == "application/pdf" and bundle.data.startswith(b"%PDF-")


def test_a_letter_pdf_is_named_after_its_candidate(app, client, db, login,
                                                   make_position) -> None:  # noqa: ANN001
    """``okafor-daniel.pdf``; an accented name adds its UTF-8 spelling as ``filename*``."""
    member = login("manager")
    position = make_position(org=member.organization, csv=SMALL)
    assert _as(client, "GET", f"/positions/{position.id}/letters").status_code == 200
    letters = {name: letter_id for letter_id, name in db.execute(
        select(Letter.id, Candidate.first_name)
        .join(Application, Application.id == Letter.application_id)
        .join(Candidate, Candidate.id == Application.candidate_id)
        .where(Application.position_id == position.id))}
    daniel = _as(client, "GET", f"/letters/{letters['Daniel']}/letter.pdf")
    assert daniel.headers["Content-Disposition"] == 'inline; filename="okafor-daniel.pdf"'
    zoe = _as(client, "GET", f"/letters/{letters['Zoë']}/letter.pdf")
    assert zoe.headers["Content-Disposition"] == (
        "inline; filename=\"lefebvre-zoe.pdf\"; filename*=UTF-8''lefebvre-zo%C3%AB.pdf")
    assert unquote("lefebvre-zo%C3%AB.pdf") == "lefebvre-zoë.pdf"


def test_file_names_transliterate_and_fall_back_to_the_letter_id(client, db, login,
                                                                 make_position) -> None:  # noqa: ANN001
    """Accents and Vietnamese marks become ASCII; a name of no Latin letter gives letter-<id>."""
    member = login("manager")
    position = make_position(org=member.organization, csv=SMALL)
    assert _as(client, "GET", f"/positions/{position.id}/letters").status_code == 200
    letter = db.scalar(select(Letter).join(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.first_name == "Daniel"))
    candidate = letter.application.candidate
    cases = {("Nguyễn", "Thị Lan"): ("nguyen-thi-lan", "nguyễn-thị-lan"),
             ("Lefèbvre", "Zoé"): ("lefebvre-zoe", "lefèbvre-zoé"),
             ("Østergård", "Łukasz"): ("ostergard-lukasz", "østergård-łukasz"),
             ("王", "小明"): (f"letter-{letter.id}", "王-小明"),
             ("", "  "): (f"letter-{letter.id}", f"letter-{letter.id}")}
    for (last, first), (plain, real) in cases.items():
        candidate.last_name, candidate.first_name = last, first
        assert files.download_name(letter, "eml") == (f"{plain}.eml", f"{real}.eml")
        value = files.content_disposition(letter, "eml")
        assert value.startswith(f'attachment; filename="{plain}.eml"')
        assert ("filename*=UTF-8''" in value) == (plain != real)
        if plain != real:
            assert unquote(value.split("''", 1)[1]) == f"{real}.eml"
    db.rollback()


def _zip(client: FlaskClient, position: Position) -> tuple[str, zipfile.ZipFile]:
    response = _as(client, "POST", f"/positions/{position.id}/letters.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    name = re.fullmatch(r'attachment; filename="([^"]+)"',
                        response.headers["Content-Disposition"]).group(1)
    return name, zipfile.ZipFile(io.BytesIO(response.data))


def test_a_zip_of_drafts_says_draft_and_its_emails_have_no_message_id(
        app, client, db, login, make_position) -> None:  # noqa: ANN001
    """Drafts: ``letters-operations-coordinator-DRAFT-<day>.zip``, and no .eml can be mailed."""
    member = login("manager")
    position = make_position(org=member.organization, csv=SMALL)
    name, _ = _zip(client, position)  # no letter yet: nothing frozen is a draft too
    assert "-DRAFT-" in name
    assert _as(client, "GET", f"/positions/{position.id}/letters").status_code == 200
    name, archive = _zip(client, position)
    assert re.fullmatch(r"letters-operations-coordinator-DRAFT-\d{4}-\d\d-\d\d\.zip", name)
    emls = [n for n in archive.namelist() if n.endswith(".eml")]
    assert len(emls) == 3 and "002-lefebvre-zoe.eml" in emls
    for entry in emls:
        data = archive.read(entry)
        message = message_from_bytes(data, policy=policy.default)
        assert message["Message-ID"] is None and b"message-id" not in data.lower()
        assert message["To"] and message.get_body(("plain",)) is not None


def test_a_zip_of_sent_letters_keeps_the_frozen_bytes(app, client, db, login,
                                                      make_position) -> None:  # noqa: ANN001
    """Sent: no DRAFT in the name, and each .eml is the frozen message byte for byte."""
    _, position = _sent(client, login, make_position)
    name, archive = _zip(client, position)
    assert re.fullmatch(r"letters-operations-coordinator-\d{4}-\d\d-\d\d\.zip", name)
    frozen = {row.first_name: row for row in db.execute(
        select(Candidate.first_name, FrozenLetter.eml, FrozenLetter.message_id)
        .join(Letter, Letter.id == FrozenLetter.letter_id).join(Application).join(Candidate)
        .where(Application.position_id == position.id))}
    for first, entry in (("Daniel", "004-okafor-daniel.eml"), ("Zoë", "002-lefebvre-zoe.eml")):
        assert archive.read(entry) == frozen[first].eml
        assert message_from_bytes(frozen[first].eml)["Message-ID"] == frozen[first].message_id
    assert "001-hassan-ahmed.pdf" in archive.namelist()  # by post: no .eml
    assert "001-hassan-ahmed.eml" not in archive.namelist()


def _page_queries(client: FlaskClient, url: str) -> int:
    assert _as(client, "GET", url).status_code == 200
    _db.session.remove()  # the tests share one app context: start from an empty session
    with counting() as statements:
        response = _as(client, "GET", url)
    assert response.status_code == 200 and 'data-testid="recipients"' in response.text
    return len(statements)


def test_the_sending_page_costs_the_same_queries_for_any_batch(app, client, db, login,
                                                               make_position) -> None:  # noqa: ANN001
    """6 or 40 letters: the same number of queries, and the list is paged."""
    app.config["RECIPIENTS_PER_PAGE"] = 10
    member = login("manager")
    counts = []
    for size, title in ((7, "Dispatcher"), (41, "Warehouse Lead")):
        position = make_position(org=member.organization, csv=candidates_csv(size),
                                 title=title)
        _approve(client, position, size - 1)
        assert _as(client, "POST", f"/positions/{position.id}/send",
                   data=NO_HOLD).status_code == 302
        counts.append(_page_queries(client, f"/positions/{position.id}/sending"))
    assert counts[0] == counts[1], counts
    last = _as(client, "GET", f"/positions/{position.id}/sending?page=4").text
    assert "Page 4 of 4" in last
    table = last[last.index('data-testid="recipients"'):last.index("</table>",
                                                                   last.index("recipients"))]
    assert table.count('<th scope="row">') == 10
