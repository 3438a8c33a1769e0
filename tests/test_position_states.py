"""Issue 12, point 8: where each candidate stands, on the position, letters and positions pages.

The position page shows each candidate's outcome and the life of their letter (held,
scheduled, queued, sent with the local time, failed, in doubt, cancelled with the reason, or
no letter), offers only the outcome buttons that still apply, and the lists count sent letters.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from test_queries import candidates_csv, queries

from recruiter.models import Application, Candidate, Delivery, Letter, Member, Position
from recruiter.services import approval, sending
from recruiter.services import letters as letters_service
from recruiter.services.outcomes import change_outcome
from recruiter.services.sending import freeze as sending_freeze

SENT = re.compile(r"sent (\d{1,2} \w{3} \d{4}, \d\d:\d\d) (\w+)")


@pytest.fixture(autouse=True)
def _stand_in_pdfs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Freezing renders PDFs; a stand-in keeps these tests about the pages quick."""
    monkeypatch.setattr(sending_freeze, "render_pdfs_parallel",
                        lambda letters, **_: [b"%PDF-1.7 stand-in " + x.key.encode()
                                         for x in letters])


def _application(db, position: Position, first_name: str) -> Application:  # noqa: ANN001
    return db.scalar(select(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.first_name == first_name))


def _approve_and_freeze(db, position: Position, member: Member, **options) -> None:  # noqa: ANN001, ANN003
    letters = letters_service.refresh_letters(db, position)
    count = sum(1 for x in letters if x.status == "draft")  # what approving all approves now
    approval.approve_all(db, position, member, expected_count=count,
                                acknowledge_warnings=True)
    sending.freeze_batch(db, position, member, **options)
    db.commit()


def _deliveries(db, position: Position, channel: str | None = None) -> list[Delivery]:  # noqa: ANN001
    query = (select(Delivery).join(Letter).join(Application)
             .where(Application.position_id == position.id).order_by(Delivery.id))
    if channel:
        query = query.where(Delivery.channel == channel)
    return list(db.scalars(query))


def _row(page: str, name: str) -> str:
    """The table row of ``name`` on a page."""
    rows = [r.split("</tr>")[0] for r in page.split("<tr>")[1:] if f">{name}<" in r]
    assert len(rows) == 1, (name, len(rows))
    return rows[0]


def _buttons(row: str) -> list[str]:
    return re.findall(r'<button type="submit" class="link">([^<]+)</button>', row)


def test_after_sending_each_candidate_shows_where_their_letter_went(app, client, db, login,
                                                                    make_org, make_position):
    """Sent with the local time, cancelled with its reason, no letter for the hire."""
    org = make_org(timezone="America/Vancouver")
    member = login("manager", org=org)
    position = make_position(org=org)
    letters_service.refresh_letters(db, position)
    change_outcome(db, _application(db, position, "Daniel"), "withdrawn", by=member,
                   confirmed=True)  # his letter was drafted: it is cancelled
    db.commit()
    _approve_and_freeze(db, position, member, hold_until_accepted=False)
    for delivery in _deliveries(db, position, "email"):
        sending.deliver_ids(db, [delivery.id], app.config["MAIL_URL"])[0]
    assert sending.confirm_posted(db, position, member) == 1
    db.commit()

    page = client.get(f"/positions/{position.id}").text
    sofia = _row(page, "Sofía Ramírez")
    match = SENT.search(sofia)
    assert match and match.group(2) in ("PST", "PDT")
    sent_at = db.scalar(select(Delivery.sent_at).join(Letter).where(
        Letter.application_id == _application(db, position, "Sofía").id))
    local = sent_at.astimezone(ZoneInfo("America/Vancouver"))
    assert match.group(1) == f"{local.day} {local:%b %Y, %H:%M}"
    assert _buttons(sofia) == ["Mark hired"]  # nothing else applies once a letter was sent
    assert SENT.search(_row(page, "Ahmed Hassan"))  # the post letter, confirmed as posted
    daniel = _row(page, "Daniel Okafor")
    assert "cancelled" in daniel and "The candidate withdrew." in daniel
    assert "Withdrawn" not in _buttons(daniel)
    hire = _row(page, "Maya Chen")
    assert "no letter" in hire and "Mark hired" not in _buttons(hire)

    letters = client.get(f"/positions/{position.id}/letters").text
    counts = letters[letters.index('data-testid="letter-counts"'):]
    counts = counts[:counts.index("</p>")]
    assert "28 letters · 28 sent · 1 cancelled" in counts and "approved" not in counts
    assert "The candidate withdrew." in _row(letters, "Daniel Okafor")
    cancelled = db.scalar(select(Letter).where(
        Letter.application_id == _application(db, position, "Daniel").id))
    shown = client.get(f"/letters/{cancelled.id}").text
    assert 'data-testid="cancelled"' in shown and "The candidate withdrew." in shown
    listing = client.get("/positions").text
    row = _row(listing, position.title)
    assert re.findall(r'<td[^>]*class="num">(\d+)</td>', row)[-1] == "28"


@pytest.mark.parametrize(("setup", "label"), [
    pytest.param({"hold_until_accepted": True}, "held", id="held"),
    pytest.param({"hold_until_accepted": False,
                  "send_at": datetime.now(UTC) + timedelta(days=2)}, "scheduled",
                 id="scheduled"),
    pytest.param({"hold_until_accepted": False}, "queued", id="queued"),
    pytest.param({"hold_until_accepted": False, "state": "failed"}, "failed", id="failed"),
    pytest.param({"hold_until_accepted": False, "state": "in_doubt"}, "in doubt",
                 id="in_doubt"),
    pytest.param({"hold_until_accepted": False, "state": "sending"}, "sending", id="sending"),
])
def test_each_life_of_a_frozen_letter_is_named(client, db, login, make_position, setup,
                                               label):
    """Held, scheduled, queued, failed, in doubt and sending show on every page of a letter."""
    member = login("manager")
    position = make_position(org=member.organization)
    options = dict(setup)
    state = options.pop("state", None)
    _approve_and_freeze(db, position, member, **options)
    letter = db.scalar(select(Letter).where(
        Letter.application_id == _application(db, position, "Sofía").id))
    if state:
        letter.deliveries[0].state = state
        db.commit()
    row = _row(client.get(f"/positions/{position.id}").text, "Sofía Ramírez")
    assert f">{label}<" in row
    if label in ("sending", "in doubt"):
        assert _buttons(row) == ["Mark hired"]  # it may have reached her
    else:
        assert "Withdrawn" in _buttons(row)
    listed = _row(client.get(f"/positions/{position.id}/letters").text, "Sofía Ramírez")
    assert f">{label}<" in listed
    shown = client.get(f"/letters/{letter.id}").text
    assert re.search(rf'data-testid="letter-life">{label}<', shown)


def test_candidates_without_a_letter_say_so_and_keep_their_buttons(client, db, login,
                                                                   make_position):
    """Pending and withdrawn: no letter; declined before the review: not yet; own buttons."""
    member = login("manager")
    position = make_position(org=member.organization)
    change_outcome(db, _application(db, position, "Daniel"), "pending", by=member,
                   confirmed=True)
    change_outcome(db, _application(db, position, "Grace"), "withdrawn", by=member,
                   confirmed=True)
    db.commit()
    page = client.get(f"/positions/{position.id}").text
    pending = _row(page, "Daniel Okafor")
    assert ">no letter<" in pending
    assert _buttons(pending) == ["Mark hired", "Decline", "Withdrawn"]
    withdrawn = _row(page, "Grace Kim")
    assert ">no letter<" in withdrawn
    assert _buttons(withdrawn) == ["Mark hired", "Decline", "Reinstate"]
    declined = _row(page, "Sofía Ramírez")
    assert ">no letter yet<" in declined
    assert _buttons(declined) == ["Mark hired", "Withdrawn", "Reinstate"]
    assert _buttons(_row(page, "Maya Chen")) == ["Decline", "Withdrawn", "Reinstate"]
    assert f'href="/positions/{position.id}/decline-pending">Decline the 1 pending<' in page


def test_a_render_error_shows_on_the_row_and_the_letter(client, db, login, make_position):
    """A letter that cannot be rendered says why on the position, the list and its page."""
    member = login("manager")
    position = make_position(org=member.organization)
    letters_service.refresh_letters(db, position)
    letter = db.scalar(select(Letter).where(
        Letter.application_id == _application(db, position, "Sofía").id))
    letter.render_error = "The boilerplate failed for this candidate: division by zero."
    db.commit()
    login("auditor", org=member.organization)  # reads the stored letters, refreshes none
    for url in (f"/positions/{position.id}", f"/positions/{position.id}/letters"):
        assert "division by zero" in _row(client.get(url).text, "Sofía Ramírez")
    shown = client.get(f"/letters/{letter.id}").text
    assert 'data-testid="render-error"' in shown and "division by zero" in shown


def test_position_page_queries_do_not_grow_once_letters_are_frozen(app, client, db, login,
                                                                   make_position):
    """With letters, deliveries and a batch, 10 and 200 candidates cost the same queries."""
    app.config.update(CANDIDATES_PER_PAGE=5)
    member = login("manager")
    small = make_position(org=member.organization, csv=candidates_csv(10))
    large = make_position(org=member.organization, csv=candidates_csv(200),
                          title="Warehouse Lead")
    urls = []
    for position in (small, large):
        _approve_and_freeze(db, position, member, hold_until_accepted=False)
        urls.append(f"/positions/{position.id}")
    counts = [queries(client, url) for url in urls]
    assert counts[0] == counts[1] and counts[1] <= 18, counts
