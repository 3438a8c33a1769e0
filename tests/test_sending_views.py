"""The sending workflow in the browser: freeze, gates, live progress, problems and the CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import PASSWORD, VANCOUVER
from flask import g
from flask.testing import FlaskClient
from sqlalchemy import func, select

from recruiter.forms.sending import next_business_morning, to_utc
from recruiter.models import Application, Batch, Candidate, Delivery, Letter, Position
from recruiter.services import sending

LETTERS = 29  # the Vancouver batch: everyone but the hire
EMAILS = 28  # one candidate has no address and gets a letter by post
NO_HOLD = {"send_at": ""}  # a submitted form with the hold box unticked
# Most tests need a batch, not its size: the hire, three emailed letters and one for post.
ROWS = VANCOUVER.read_text(encoding="utf-8").splitlines()
SMALL = "\n".join([ROWS[0], *[r for r in ROWS if r.startswith(("Maya,", "Daniel,", "Zoë,",
                                                               "Arjun,", "Ahmed,"))]]).encode()
FEW, FEW_EMAILS = 4, 3


def _as(client: FlaskClient, method: str, url: str, **kwargs):  # noqa: ANN003, ANN202
    """One request; the tests share an app context, where Flask-Login caches the user on g."""
    g.pop("_login_user", None)
    return client.open(url, method=method, **kwargs)


def _text(html: str) -> str:
    """The page's words without tags, on one line."""
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def _emls(app) -> list[Path]:  # noqa: ANN001
    outbox = Path(app.config["MAIL_URL"].removeprefix("file://"))
    return sorted(outbox.glob("*.eml")) if outbox.exists() else []


def _approved(client: FlaskClient, login, make_position, *, full: bool = False):  # noqa: ANN001, ANN202
    """A signed-in manager and a position with every letter approved (the small one)."""
    member = login("manager")
    position = make_position(org=member.organization, csv=None if full else SMALL)
    page = _as(client, "GET", f"/positions/{position.id}/letters")
    assert page.status_code == 200
    # Each letter without a note is confirmed on its own (the full batch has two).
    without_note = re.findall(r'name="without_note" value="(\d+)"', page.text)
    response = _as(client, "POST", f"/positions/{position.id}/letters/approve",
                   data={"expected_count": str(LETTERS if full else FEW), "acknowledge": "y",
                         "without_note": without_note})
    assert response.status_code == 302
    return member, position


def _send(client: FlaskClient, position: Position, data: dict[str, str]):  # noqa: ANN202
    return _as(client, "POST", f"/positions/{position.id}/send", data=data,
               follow_redirects=True)


def _deliveries(db, position: Position, **where) -> list[Delivery]:  # noqa: ANN001, ANN003
    db.rollback()
    query = select(Delivery).join(Letter).join(Application).where(
        Application.position_id == position.id)
    for name, value in where.items():
        query = query.where(getattr(Delivery, name) == value)
    return list(db.scalars(query.order_by(Delivery.id)))


def test_letters_page_offers_the_send_form_once_every_letter_is_approved(
        app, client, login, make_position) -> None:  # noqa: ANN001
    """The send form, hold ticked and a send time suggested, appears only after approval."""
    member = login("manager")
    position = make_position(org=member.organization, csv=SMALL)
    page = _as(client, "GET", f"/positions/{position.id}/letters").text
    assert f'action="/positions/{position.id}/send"' not in page
    _as(client, "POST", f"/positions/{position.id}/letters/approve",
        data={"expected_count": str(FEW), "acknowledge": "y"})
    page = _as(client, "GET", f"/positions/{position.id}/letters").text
    form = page[page.index(f'action="/positions/{position.id}/send"'):]
    assert re.search(r'<input[^>]* checked[^>]*name="hold"', form)
    assert re.search(r'type="datetime-local" value="\d{4}-\d\d-\d\dT09:00"', form)
    assert f"Send {FEW} letters" in form


def test_sending_without_the_hold_sends_every_email(app, client, db, login,
                                                     make_position) -> None:  # noqa: ANN001
    """Hold off, no send time: 28 .eml files in the outbox and "sent 28" on the sending page."""
    _, position = _approved(client, login, make_position, full=True)
    response = _send(client, position, NO_HOLD)
    assert response.status_code == 200
    words = _text(response.text)
    # The queue is inline here: by the time the page shows, they left, and it says so.
    assert "emails now" not in words
    assert re.search(rf"All {EMAILS} emails were sent on \d+ \w+ \d{{4}} at \d\d:\d\d\. "
                     r"1 letter for post still needs printing and mailing\.", words)
    assert len(_emls(app)) == EMAILS
    assert f"sent {EMAILS}, queued 0, failed 0, in doubt 0, out of {LETTERS}" in words
    assert "1 to post" in words and "The postal letters were mailed" in words
    assert {d.state for d in _deliveries(db, position, channel="email")} == {"sent"}


def test_a_held_batch_sends_nothing_until_the_hire_accepts(app, client, db, login,
                                                           make_position) -> None:  # noqa: ANN001
    """Hold on: the batch waits, nothing is in the outbox; releasing sends every email."""
    _, position = _approved(client, login, make_position)
    response = _send(client, position, {"hold": "y", "send_at": ""})
    assert "held until the hire accepts" in response.text
    assert _emls(app) == []
    assert "The hire accepted: release the letters" in response.text
    assert {d.state for d in _deliveries(db, position)} == {"held"}

    response = _as(client, "POST", f"/positions/{position.id}/release", follow_redirects=True)
    assert "Recorded that the hire accepted, and released the letters." in response.text
    assert f"All {FEW_EMAILS} emails were sent on" in _text(response.text)
    assert len(_emls(app)) == FEW_EMAILS
    db.rollback()
    assert db.get(Position, position.id).hire_accepted_at is not None


def test_sending_twice_makes_one_batch(app, client, db, login, make_position) -> None:  # noqa: ANN001
    """A double submit finds the batch of the first: "Already sending", no second email."""
    _, position = _approved(client, login, make_position)
    _send(client, position, NO_HOLD)
    again = _send(client, position, NO_HOLD)
    assert "Already sending" in again.text
    assert db.scalar(select(func.count()).select_from(Batch)) == 1
    assert len(_emls(app)) == FEW_EMAILS
    assert len(_deliveries(db, position)) == FEW


def test_a_send_time_is_local_to_the_organization(app, client, db, login,
                                                  make_position) -> None:  # noqa: ANN001
    """09:00 in Vancouver is stored as 17:00 UTC; the batch waits, and can be cancelled."""
    member, position = _approved(client, login, make_position)
    member.organization.timezone = "America/Vancouver"
    db.commit()
    response = _send(client, position, {"send_at": "2099-01-05T09:00"})
    assert "leave on Monday 5 January 2099, 09:00 (America/Vancouver)" in response.text
    db.rollback()
    batch = db.scalar(select(Batch))
    assert (batch.state, batch.send_at) == ("scheduled", datetime(2099, 1, 5, 17, tzinfo=UTC))
    assert _emls(app) == []

    response = _as(client, "POST", f"/positions/{position.id}/batch/cancel",
                   follow_redirects=True)
    assert f"its {FEW} letters are drafts again" in response.text
    db.rollback()
    assert db.scalar(select(Batch)) is None
    assert set(db.scalars(select(Letter.status))) == {"draft"}


def test_a_past_or_impossible_send_time_is_refused(app, client, db, login,
                                                   make_position) -> None:  # noqa: ANN001
    """A time that passed, or one the clocks skip, freezes nothing."""
    member, position = _approved(client, login, make_position)
    member.organization.timezone = "America/Vancouver"
    db.commit()
    past = _send(client, position, {"send_at": "2001-01-01T09:00"})
    assert "already passed" in past.text
    skipped = _send(client, position, {"send_at": "2099-03-08T02:30"})
    assert "does not exist in America/Vancouver" in skipped.text
    assert db.scalar(select(func.count()).select_from(Batch)) == 0


def test_a_released_batch_cannot_be_cancelled(app, client, db, login, make_position) -> None:  # noqa: ANN001
    """Once letters left, the batch stays; single letters are cancelled instead."""
    _, position = _approved(client, login, make_position)
    _send(client, position, NO_HOLD)
    response = _as(client, "POST", f"/positions/{position.id}/batch/cancel",
                   follow_redirects=True)
    assert "Cancel single letters instead" in response.text
    assert db.scalar(select(func.count()).select_from(Batch)) == 1


def test_confirming_the_post_marks_the_postal_letter_sent(app, client, db, login,
                                                          make_position) -> None:  # noqa: ANN001
    """After the print bundle was mailed, every letter counts as sent."""
    _, position = _approved(client, login, make_position)
    _send(client, position, NO_HOLD)
    response = _as(client, "POST", f"/positions/{position.id}/posted", follow_redirects=True)
    assert "Marked 1 postal letter as mailed." in response.text
    assert f"sent {FEW}, queued 0" in _text(response.text)


def test_progress_json_counts_each_state(app, client, db, login, make_position) -> None:  # noqa: ANN001
    """The live numbers: none before sending, held while held, sent after release."""
    _, position = _approved(client, login, make_position)
    url = f"/positions/{position.id}/sending.json"
    before = _as(client, "GET", url).json
    assert (before["state"], before["total"], before["active"]) == (None, 0, False)
    _send(client, position, {"hold": "y", "send_at": ""})
    held = _as(client, "GET", url).json
    assert (held["state"], held["held"], held["sent"], held["total"]) == \
        ("held", FEW, 0, FEW)
    _as(client, "POST", f"/positions/{position.id}/release")
    doubt, waiting = _deliveries(db, position, channel="email")[:2]
    doubt.state, waiting.state = "in_doubt", "retry_wait"
    db.commit()
    after = _as(client, "GET", url).json
    assert {k: after[k] for k in ("state", "sent", "queued", "retrying", "failed", "in_doubt",
                                  "to_post", "total", "active", "problems")} == {
        "state": "released", "sent": FEW_EMAILS - 2, "queued": 1, "retrying": 1, "failed": 0,
        "in_doubt": 1, "to_post": 1, "total": FEW, "active": True, "problems": 1}


def _trouble(db, position: Position) -> tuple[Delivery, Delivery]:  # noqa: ANN001
    """Make one sent email in doubt and another failed, with reasons a spreadsheet would run."""
    first, second = _deliveries(db, position, channel="email")[:2]
    first.state = "in_doubt"
    first.last_error = "=HYPERLINK(\"http://evil.example\")"
    first.letter.application.candidate.first_name = "@Ada"
    second.state, second.attempts = "failed", 3
    second.last_error = "550 5.1.1 mailbox unavailable"
    db.commit()
    return first, second


def test_the_sending_page_lists_problems_and_the_csv_neutralises_formulas(
        app, client, db, login, make_position) -> None:  # noqa: ANN001
    """Failed and in-doubt letters show their reason and Message-ID; the CSV is safe to open."""
    _, position = _approved(client, login, make_position)
    _send(client, position, NO_HOLD)
    doubt, failed = _trouble(db, position)
    page = _as(client, "GET", f"/positions/{position.id}/sending").text
    assert "550 5.1.1 mailbox unavailable" in page
    local, domain = doubt.letter.frozen.message_id.strip("<>").split("@")
    assert f"&lt;{local}<wbr>@{domain}&gt;" in page
    assert f'action="/deliveries/{doubt.id}/resend"' in page
    assert f'href="/positions/{position.id}/failures.csv"' in page

    response = _as(client, "GET", f"/positions/{position.id}/failures.csv")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text.removeprefix("\ufeff"))))
    assert [r["state"] for r in rows] == ["in_doubt", "failed"]
    assert rows[0]["reason"] == "'=HYPERLINK(\"http://evil.example\")"
    assert rows[0]["candidate"].startswith("'@Ada ")
    assert rows[0]["email"] == doubt.recipient
    assert rows[0]["message_id"] == doubt.letter.frozen.message_id
    assert (rows[1]["attempts"], rows[1]["reason"]) == ("3", "550 5.1.1 mailbox unavailable")


@pytest.mark.parametrize(("action", "state"), [("mark_sent", "sent"), ("resend", "sent"),
                                               ("cancel", "cancelled")])
def test_resolving_a_problem_changes_its_state(app, client, db, login, make_position,
                                               action: str, state: str) -> None:  # noqa: ANN001
    """Each action ends the doubt; a resend goes out again (inline in tests) and is recorded."""
    member, position = _approved(client, login, make_position)
    _send(client, position, NO_HOLD)
    doubt, _ = _trouble(db, position)
    response = _as(client, "POST", f"/deliveries/{doubt.id}/{action}", follow_redirects=True,
                   data={"reason": "  Checked with the candidate by phone.  "})
    assert response.status_code == 200
    db.rollback()
    resolved = db.get(Delivery, doubt.id)
    assert resolved.state == state
    [decision] = resolved.resolutions  # who, when, what and why: columns, not prose
    assert (decision.member_id, decision.action, decision.state_before, decision.reason) == (
        member.id, action, "in_doubt", "Checked with the candidate by phone.")
    assert member.name not in (resolved.last_error or "")
    login("admin", org=member.organization)  # an admin reads the letter's audit page
    page = _as(client, "GET", f"/audit/letters/{resolved.letter_id}").text
    assert f"by {member.name}, " in page and "Checked with the candidate by phone." in page
    again = _as(client, "POST", f"/deliveries/{doubt.id}/{action}", follow_redirects=True)
    assert "cannot be" in again.text  # a settled letter is not settled twice


def test_a_reason_on_two_lines_is_refused_and_nothing_changes(app, client, db, login,  # noqa: ANN001
                                                                make_position) -> None:
    """The reason is one line, like every other single-line field; the letter stays in doubt."""
    _, position = _approved(client, login, make_position)
    _send(client, position, NO_HOLD)
    doubt, _ = _trouble(db, position)
    response = _as(client, "POST", f"/deliveries/{doubt.id}/mark_sent", follow_redirects=True,
                   data={"reason": "It arrived.\nBcc: someone@example.com"})
    assert "The reason contains a line break" in response.text
    db.rollback()
    unchanged = db.get(Delivery, doubt.id)
    assert (unchanged.state, unchanged.resolutions) == ("in_doubt", [])


def _client_for(app, member) -> FlaskClient:  # noqa: ANN001
    """A second browser, signed in as ``member``."""
    other = app.test_client()
    response = _as(other, "POST", "/login", data={"email": member.email, "password": PASSWORD})
    assert response.status_code == 302
    return other


def test_an_auditor_sees_the_problems_but_cannot_resolve_them(
        app, client, db, login, make_member, make_position) -> None:  # noqa: ANN001
    """An auditor reads the page without buttons; every sending POST is a 403."""
    member, position = _approved(client, login, make_position)
    _send(client, position, NO_HOLD)
    doubt, _ = _trouble(db, position)
    client = _client_for(app, make_member("auditor", org=member.organization))
    page = _as(client, "GET", f"/positions/{position.id}/sending")
    assert page.status_code == 200 and "550 5.1.1" in page.text
    assert "/resend" not in page.text
    for url in (f"/deliveries/{doubt.id}/resend", f"/deliveries/{doubt.id}/mark_sent",
                f"/deliveries/{doubt.id}/cancel", f"/positions/{position.id}/send",
                f"/positions/{position.id}/release", f"/positions/{position.id}/posted",
                f"/positions/{position.id}/batch/cancel"):
        assert _as(client, "POST", url, data=NO_HOLD).status_code == 403, url
    assert _deliveries(db, position, id=doubt.id)[0].state == "in_doubt"


def test_another_organization_gets_404(app, client, db, login, make_org, make_member,
                                       make_position) -> None:  # noqa: ANN001
    """Another organization's admin can neither see nor touch this batch."""
    _, position = _approved(client, login, make_position)
    _send(client, position, NO_HOLD)
    doubt, _ = _trouble(db, position)
    client = _client_for(app, make_member("admin", org=make_org("Beta Analytics")))
    for method, url in (("POST", f"/deliveries/{doubt.id}/resend"),
                        ("POST", f"/deliveries/{doubt.id}/cancel"),
                        ("GET", f"/positions/{position.id}/sending"),
                        ("GET", f"/positions/{position.id}/sending.json"),
                        ("GET", f"/positions/{position.id}/failures.csv"),
                        ("POST", f"/positions/{position.id}/release")):
        assert _as(client, method, url).status_code == 404, url
    assert _deliveries(db, position, id=doubt.id)[0].state == "in_doubt"


def test_position_and_letters_pages_show_the_live_counts(app, client, db, login,
                                                         make_position) -> None:  # noqa: ANN001
    """Step 6 of the position and the letters page carry the counts and the script."""
    _, position = _approved(client, login, make_position)
    page = _as(client, "GET", f"/positions/{position.id}").text
    assert "once every letter is approved" in page
    _send(client, position, NO_HOLD)
    for url in (f"/positions/{position.id}", f"/positions/{position.id}/letters"):
        page = _as(client, "GET", url).text
        assert f"sent {FEW_EMAILS}, queued 0, failed 0, in doubt 0, out of {FEW}" in _text(page)
        assert f'data-url="/positions/{position.id}/sending.json"' in page
        assert "/static/progress.js" in page
        assert f'href="/positions/{position.id}/sending"' in page
    assert f'action="/positions/{position.id}/send"' not in page


def test_sending_page_before_any_batch(app, client, login, make_position) -> None:  # noqa: ANN001
    """Without a batch the page says so and points to the letters."""
    member = login("manager")
    position = make_position(org=member.organization)
    page = _as(client, "GET", f"/positions/{position.id}/sending")
    assert page.status_code == 200 and "Nothing is being sent" in page.text


def test_the_next_business_morning() -> None:
    """09:00 local on the next weekday after now; today when it is still early."""
    zone = ZoneInfo("America/Vancouver")
    friday_afternoon = datetime(2025, 3, 7, 15, tzinfo=zone)
    assert next_business_morning(zone, friday_afternoon) == datetime(2025, 3, 10, 9)
    tuesday_early = datetime(2025, 3, 4, 7, 30, tzinfo=zone)
    assert next_business_morning(zone, tuesday_early) == datetime(2025, 3, 4, 9)
    assert to_utc(datetime(2025, 3, 10, 9), zone) == datetime(2025, 3, 10, 16, tzinfo=UTC)
    with pytest.raises(ValueError, match="does not exist"):
        to_utc(datetime(2025, 3, 9, 2, 30), zone)


def test_candidate_names_in_problems_are_escaped(app, client, db, login,
                                                 make_position) -> None:  # noqa: ANN001
    """A name with markup is shown as text on the sending page."""
    _, position = _approved(client, login, make_position)
    _send(client, position, NO_HOLD)
    doubt, _ = _trouble(db, position)
    candidate = db.get(Candidate, doubt.letter.application.candidate_id)
    candidate.last_name = "<b>Bold</b>"
    db.commit()
    page = _as(client, "GET", f"/positions/{position.id}/sending").text
    assert "&lt;b&gt;Bold&lt;/b&gt;" in page and "<b>Bold</b>" not in page


def test_a_malformed_send_time_names_the_field(app, client, db, login, make_position) -> None:  # noqa: ANN001
    """A send time the browser did not format is refused with the field's name."""
    _, position = _approved(client, login, make_position)
    response = _send(client, position, {"send_at": "tomorrow morning"})
    assert "Nothing was sent. Send at: Not a valid datetime value." in response.text
    assert db.scalar(select(func.count()).select_from(Batch)) == 0


# --- big batches are frozen by a worker ---------------------------------------------------------


class HeldFreezes:
    """The freeze messages for a worker, held here until ``run`` plays the worker's part."""

    def __init__(self, task) -> None:  # noqa: ANN001
        self.task, self.waiting = task, []

    def run(self, index: int = 0) -> int:
        """Run the real task on one held message, as a worker would."""
        return self.task.call_local(*self.waiting[index])


@pytest.fixture
def held_freezes(app, monkeypatch: pytest.MonkeyPatch) -> HeldFreezes:  # noqa: ANN001
    """Batches bigger than 2 letters go to a worker, whose messages wait in the fixture."""
    from recruiter.queue import queue

    app.config["FREEZE_INLINE_MAX"] = 2
    held = HeldFreezes(queue().freeze)
    monkeypatch.setattr(queue(), "freeze", lambda *args: held.waiting.append(args))
    return held


def test_a_big_batch_is_frozen_by_a_worker_and_the_page_follows_it(  # noqa: ANN001
        app, client, db, login, make_position, held_freezes) -> None:
    _, position = _approved(client, login, make_position)
    response = _send(client, position, NO_HOLD)
    assert f"Freezing {FEW} letters." in response.text
    assert "Freezing the letters" in response.text
    assert '<meta http-equiv="refresh" content="10">' in response.text
    assert db.scalar(select(func.count()).select_from(Batch)) == 0  # nothing frozen yet
    letters_page = _as(client, "GET", f"/positions/{position.id}/letters").text
    assert f'action="/positions/{position.id}/send"' not in letters_page  # no second submit
    again = _send(client, position, NO_HOLD)
    assert "already being frozen" in again.text
    assert len(held_freezes.waiting) == 1

    sent = held_freezes.run()  # the worker's turn
    assert sent == FEW_EMAILS
    assert len(_emls(app)) == FEW_EMAILS
    page = _as(client, "GET", f"/positions/{position.id}/sending").text
    assert "Freezing the letters" not in page and "refresh" not in page
    assert f"sent {FEW_EMAILS}, queued 0, failed 0, in doubt 0, out of {FEW}" in _text(page)
    db.rollback()
    stored = db.get(Position, position.id)
    assert (stored.freezing_since, stored.freeze_problem) == (None, None)


def test_a_refused_background_freeze_is_shown_and_can_be_sent_again(  # noqa: ANN001
        app, client, db, login, make_position, held_freezes) -> None:
    member, position = _approved(client, login, make_position)
    _send(client, position, NO_HOLD)
    db.rollback()
    db.get(type(member.organization), member.organization_id).sender_email = "not an address"
    db.commit()
    assert held_freezes.run() == 0
    assert db.scalar(select(func.count()).select_from(Batch)) == 0
    for url in (f"/positions/{position.id}/sending", f"/positions/{position.id}/letters"):
        page = _text(_as(client, "GET", url).text)
        assert "The letters were not frozen" in page
        assert "sender email first" in page
    letters_page = _as(client, "GET", f"/positions/{position.id}/letters").text
    assert f'action="/positions/{position.id}/send"' in letters_page  # it can be sent again
    assert _emls(app) == []


def test_a_freeze_whose_worker_died_can_be_sent_again(  # noqa: ANN001
        app, client, db, login, make_position, held_freezes) -> None:
    """A freeze that never finished stops blocking the page after the sending timeout."""
    _, position = _approved(client, login, make_position)
    _send(client, position, NO_HOLD)
    letters_page = _as(client, "GET", f"/positions/{position.id}/letters").text
    assert f'action="/positions/{position.id}/send"' not in letters_page
    db.rollback()
    stored = db.get(Position, position.id)
    stored.freezing_since -= sending.SENDING_TIMEOUT + timedelta(seconds=1)  # its worker died
    db.commit()
    letters_page = _as(client, "GET", f"/positions/{position.id}/letters").text
    assert f'action="/positions/{position.id}/send"' in letters_page
    assert "Freezing the letters" not in _as(client, "GET",
                                             f"/positions/{position.id}/sending").text
    again = _send(client, position, NO_HOLD)
    assert f"Freezing {FEW} letters." in again.text
    assert len(held_freezes.waiting) == 2
    assert held_freezes.run(1) == FEW_EMAILS
