"""The notes and position pages read their name order and counts from a kept index.

services/position_index.py keeps, per process, each position's applications in name order with
the notes' counts, under ``Position.review_version``; views/urls.py builds the cards' URLs
without werkzeug's per-URL cost. These tests show that nothing a member changes is ever hidden
by what was kept, and that the URLs are url_for's.
"""

from __future__ import annotations

import re

import pytest
from flask import url_for
from sqlalchemy import event, select

from recruiter.models import Application, Candidate
from recruiter.services.position_index import PositionIndex, position_index
from recruiter.services.versions import VersionedCache, bump_review
from recruiter.views.urls import IdUrls

JSON = {"Accept": "application/json"}


def _by_first_name(db, position, first_name: str) -> Application:  # noqa: ANN001
    return db.scalar(select(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.first_name == first_name))


def _written(html: str) -> tuple[int, int]:
    found = re.search(r"<strong data-written>(\d+)</strong> of <span data-total>(\d+)</span>",
                      html)
    assert found, "no progress on the page"
    return int(found.group(1)), int(found.group(2))


def _names(html: str) -> list[str]:
    return re.findall(r'<h2 class="note-name" id="name-\d+">([^<]+)</h2>', html)


@pytest.fixture
def sorts(db):  # noqa: ANN001, ANN201
    """The statements that sort a whole position by name, as they run."""
    seen: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202, ARG001
        if "ORDER BY candidate.last_name" in statement and "LIMIT" not in statement:
            seen.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", listen)
    yield seen
    event.remove(engine, "before_cursor_execute", listen)


def test_a_second_view_sorts_nothing_and_a_saved_note_shows_at_once(client, db, login,
                                                                    make_position, sorts):
    """The index is read once per version; the next note saved moves the count on the page."""
    member = login("manager")
    position = make_position(org=member.organization)
    url = f"/positions/{position.id}/notes"
    written, total = _written(client.get(url).text)
    assert len(sorts) == 1
    assert _written(client.get(url).text) == (written, total)
    assert len(sorts) == 1, "the second view sorted the position again"
    empty = next(a for a in position.applications if a.gets_letter and not a.note)
    saved = client.post(f"/applications/{empty.id}/note", headers=JSON, data={
        "note": "Your dispatch board rebuild was thoughtful and clear.",
        "base_revision": empty.note_revision})
    assert saved.status_code == 200
    assert saved.get_json()["progress_written"] == written + 1
    assert _written(client.get(url).text) == (written + 1, total)


def test_renaming_a_candidate_moves_their_card_at_once(client, db, login, make_position):
    """A new last name puts the card in its new place on the next view."""
    member = login("manager")
    position = make_position(org=member.organization)
    url = f"/positions/{position.id}/notes"
    before = _names(client.get(url).text)
    assert before[0] != "Daniel Aaberg"
    daniel = _by_first_name(db, position, "Daniel")
    c = daniel.candidate
    old_name = c.full_name
    response = client.post(f"/applications/{daniel.id}/edit", data={
        "first_name": "Daniel", "last_name": "Aaberg", "email": c.email or "",
        "address_line1": c.address_line1 or "", "address_line2": c.address_line2 or "",
        "city": c.city or "", "region": c.region or "", "postal_code": c.postal_code or "",
        "country": c.country or "", "language": c.language or "en",
        "stage": daniel.stage, "channel": daniel.channel})
    assert response.status_code == 302, response.text
    after = _names(client.get(url).text)
    assert after[0] == "Daniel Aaberg"
    assert sorted(after) == sorted([*(n for n in before if n != old_name), "Daniel Aaberg"])


def test_reinstating_a_candidate_shows_on_both_pages_at_once(client, db, login, make_position):
    """Declined to pending: gone from the notes, counted as pending on the position page."""
    member = login("manager")
    position = make_position(org=member.organization)
    notes_url, position_url = f"/positions/{position.id}/notes", f"/positions/{position.id}"
    _, total = _written(client.get(notes_url).text)
    pending_before = re.search(r"Decline the (\d+) pending", client.get(position_url).text)
    daniel = _by_first_name(db, position, "Daniel")
    assert daniel.outcome == "declined"
    response = client.post(f"/applications/{daniel.id}/outcome",
                           data={"outcome": "pending", "confirm": "1"})
    assert response.status_code == 302, response.text
    notes = client.get(notes_url).text
    assert _written(notes)[1] == total - 1
    assert f'id="a-{daniel.id}"' not in notes
    pending_after = re.search(r"Decline the (\d+) pending", client.get(position_url).text)
    assert int(pending_after.group(1)) == (int(pending_before.group(1)) if pending_before
                                           else 0) + 1


def test_an_index_made_under_its_own_bump_is_kept_only_after_the_bump_is_gone(db,
                                                                             make_position):
    """A rolled-back bump's number is used again by the next writer: nothing is kept under it."""
    position = make_position()
    cache: VersionedCache[PositionIndex] = VersionedCache()
    bump_review(db, position.id)
    version = db.scalar(select(type(position).review_version).where(
        type(position).id == position.id))
    index = position_index(db, position, cache)
    assert index.letter_ids and cache.get(position.id, version) is None
    db.rollback()
    position_index(db, position, cache)
    assert cache.get(position.id, version - 1) is not None


def test_page_slices_and_finds_pages():
    """page() and page_of() count pages from 1, as the pager does."""
    ids = tuple(range(100, 125))
    assert PositionIndex.page(ids, 1, 10) == tuple(range(100, 110))
    assert PositionIndex.page(ids, 3, 10) == tuple(range(120, 125))
    assert PositionIndex.page(ids, 4, 10) == ()
    assert PositionIndex.page_of(ids, 121, 10) == 3
    assert PositionIndex.page_of(ids, 999, 10) == 1


def test_id_urls_are_url_for(app):
    """The cards' URLs are exactly url_for's, for every endpoint the notes page builds."""
    with app.test_request_context("/", base_url="https://example.com/recruiter"):
        urls = IdUrls()
        for application_id in (1, 42, 9_876_543):
            assert urls("notes.save", application_id) == url_for(
                "notes.save", application_id=application_id)
            assert urls("documents.upload", application_id) == url_for(
                "documents.upload", application_id=application_id)
            for kind in ("cv", "cover_letter"):
                for endpoint in ("documents.text", "documents.original", "documents.remove"):
                    assert urls(endpoint, application_id, kind=kind) == url_for(
                        endpoint, application_id=application_id, kind=kind)
        assert "/recruiter/" in urls("notes.save", 7)
        with pytest.raises(ValueError, match="no single place"):
            IdUrls("position_id")("notes.save", 7, application_id=3)
