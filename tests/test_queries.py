"""The big pages issue as many queries for 200 applications as for 10, and stay correct."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from conftest import VANCOUVER
from sqlalchemy import event, select

from recruiter.extensions import db as _db
from recruiter.models import Application, Candidate, Letter

PAGES = ("/positions/{id}", "/positions/{id}/letters", "/positions/{id}/notes",
         "/positions/{id}?page=2", "/positions/{id}/letters?page=2",
         "/positions/{id}/notes?page=2")


def candidates_csv(count: int) -> bytes:
    """``count`` Vancouver rows with unique emails; the first row is the hire."""
    header, *rows = VANCOUVER.read_text(encoding="utf-8").splitlines()
    body = [rows[i % len(rows)].replace("@", f"{i}@", 1) for i in range(count)]
    body = [body[0]] + [line.replace(",hired,", ",declined,") for line in body[1:]]
    return ("\n".join([header, *body]) + "\n").encode()


@contextmanager
def counting() -> Iterator[list[str]]:
    """Every SQL statement the engine runs inside the block."""
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        statements.append(statement)

    event.listen(_db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(_db.engine, "before_cursor_execute", count)


def queries(client, url: str) -> int:  # noqa: ANN001
    """Statements for one view of ``url``, after a first view that renders the letters."""
    assert client.get(url).status_code == 200
    _db.session.remove()  # the tests share one app context: start from an empty session
    with counting() as statements:
        response = client.get(url)
    assert response.status_code == 200
    return len(statements)


def test_page_queries_do_not_grow_with_the_position(app, client, login, make_position):
    """Position page, letter list and notes page: same query count for 30 and 200 people.

    Both hold letters without a note (rows 19 and 26 of the Vancouver file), which the letter
    list names in one more query when there are any.
    """
    app.config.update(CANDIDATES_PER_PAGE=5, NOTES_PER_PAGE=5, LETTERS_PER_PAGE=5)
    member = login("manager")
    small = make_position(org=member.organization, csv=candidates_csv(30))
    large = make_position(org=member.organization, csv=candidates_csv(200),
                          title="Warehouse Lead")
    ids = small.id, large.id
    for page in PAGES:
        few = queries(client, page.format(id=ids[0]))
        many = queries(client, page.format(id=ids[1]))
        assert few == many, (page, few, many)
        assert many <= 16, (page, many)


def test_letter_list_is_paginated_and_counts_every_letter(app, client, login, make_position):
    """The list shows one page of letters; counts, the pager and approve-all cover them all."""
    app.config["LETTERS_PER_PAGE"] = 10
    member = login("manager")
    position = make_position(org=member.organization)
    first = client.get(f"/positions/{position.id}/letters").text
    last = client.get(f"/positions/{position.id}/letters?page=3").text
    beyond = client.get(f"/positions/{position.id}/letters?page=99").text
    rows = re.compile(r'<a href="/letters/\d+">')
    assert len(rows.findall(first)) == 10
    assert len(rows.findall(last)) == 9 and "Page 3 of 3" in last
    assert beyond.count("Page 3 of 3") == 1  # past the end: the last page
    assert "29 letters" in first and "<strong>29</strong> letters" in first


def test_letter_list_follows_a_saved_note_and_a_renamed_candidate(client, db, login,
                                                                  make_position):
    """The cached review is dropped when a note or a candidate changes, never served stale."""
    member = login("manager")
    position = make_position(org=member.organization)
    application = db.scalar(select(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.first_name == "Daniel"))
    assert client.get(f"/positions/{position.id}/letters").status_code == 200
    letter = db.scalar(select(Letter).where(Letter.application_id == application.id))
    client.post(f"/applications/{application.id}/note", data={
        "note": "Your roster rebuild cut overtime by a fifth.",
        "base_revision": application.note_revision})
    page = client.get(f"/letters/{letter.id}").text
    assert "Your roster rebuild cut overtime by a fifth." in page
    response = client.post(f"/applications/{application.id}/edit", data={
        "first_name": "Danny", "last_name": "Okafor", "email": application.candidate.email,
        "stage": application.stage, "channel": "auto", "language": "en"})
    assert response.status_code == 302
    assert client.get(f"/positions/{position.id}/letters").status_code == 200
    page = client.get(f"/letters/{letter.id}").text
    assert "Dear Danny" in page


def test_approving_keeps_the_review_cached(client, db, login, make_position):
    """Approving a letter changes no input: the next list view is not a full re-check."""
    member = login("manager")
    position = make_position(org=member.organization)
    url = f"/positions/{position.id}/letters"
    draft = select(Letter.id).join(Application).where(Application.position_id == position.id,
                                                       Letter.status == "draft")
    before = queries(client, url)
    letter_id = db.scalars(draft).first()
    client.post(f"/letters/{letter_id}/approve", data={"acknowledge": "y"})
    _db.session.remove()
    with counting() as statements:
        page = client.get(url).text
    assert len(statements) == before
    assert "1 approved" in page


def _row(page: str, name: str) -> str:
    """The letter list's table row of ``name``."""
    rows = [row for row in page.split("<tr>") if f">{name}</a>" in row]
    assert len(rows) == 1, name
    return rows[0].split("</tr>")[0]


def test_letter_list_rows_show_channel_own_paragraph_and_findings(client, db, login,
                                                                 make_position):
    """Each row names the candidate and says how the letter goes and what the checks found."""
    member = login("manager")
    position = make_position(org=member.organization)
    people = {c.first_name: a for a, c in db.execute(
        select(Application, Candidate).join(Candidate)
        .where(Application.position_id == position.id))}
    url = f"/positions/{position.id}/letters"
    assert client.get(url).status_code == 200
    daniel = people["Daniel"]
    client.post(f"/applications/{daniel.id}/note",
                data={"note": "", "base_revision": daniel.note_revision})
    sofia = db.scalar(select(Letter).where(Letter.application_id == people["Sofía"].id))
    response = client.post(f"/letters/{sofia.id}/override",
                           data={"note": "Your festival volunteers were lucky to have you."})
    assert response.status_code == 302
    page = client.get(url).text
    daniel_row = _row(page, "Daniel Okafor")
    assert re.search(r"<td[^>]*>email</td>", daniel_row) and "clear" not in daniel_row
    assert re.search(r'badge-(error|warning)">1 (error|warning)<', daniel_row)
    assert "note" in daniel_row.split('class="muted small">')[1].lower()  # the first finding
    sofia_row = _row(page, "Sofía Ramírez")
    assert "own paragraph" in sofia_row and "own paragraph" not in daniel_row
    assert re.search(r"<td[^>]*>post</td>", _row(page, "Ahmed Hassan"))
    hannah_row = _row(page, "Hannah Schmidt")
    assert '<span class="ok">clear</span>' in hannah_row and "badge-" not in hannah_row
    assert f'href="/letters/{sofia.id}"' in sofia_row


def test_the_hire_is_found_without_loading_every_application(db, make_position):
    """hire_of asks for the hired application only (the sending page loaded all 5,000)."""
    from sqlalchemy import inspect

    from recruiter.services.positions import hire_of

    position = make_position()
    db.expire_all()
    hire = hire_of(position)
    assert hire is not None and hire.outcome == "hired"
    assert hire.position_id == position.id and hire.candidate.full_name
    assert "applications" not in inspect(position).dict  # the collection was never loaded
    hire.outcome = "declined"
    db.flush()
    assert hire_of(position) is None


@contextmanager
def loading(model) -> Iterator[list]:  # noqa: ANN001
    """Every instance of ``model`` the ORM loads inside the block."""
    loaded: list = []

    def load(target, context) -> None:  # noqa: ANN001
        loaded.append(target)

    event.listen(model, "load", load)
    try:
        yield loaded
    finally:
        event.remove(model, "load", load)


def test_sending_page_loads_the_hire_not_every_application(client, login, make_position):
    """The sending page of a 200-person position loads one application: the hire's."""
    member = login("manager")
    position = make_position(org=member.organization, csv=candidates_csv(200))
    url = f"/positions/{position.id}/sending"
    assert client.get(url).status_code == 200
    _db.session.remove()
    with loading(Application) as loaded:
        assert client.get(url).status_code == 200
    assert [a.outcome for a in loaded] == ["hired"]


def test_a_readers_review_is_refreshed_for_the_next_editor(client, db, login, make_position):
    """After a reader's view, the next editor's view still brings the letters up to date.

    A review built for a member who may not edit holds the stored letters as they were; the
    editor must not take it from the cache as if it had been refreshed.
    """
    manager = login("manager")
    position = make_position(org=manager.organization)
    url = f"/positions/{position.id}/letters"
    assert client.get(url).status_code == 200  # the editor's review: letters up to date
    application = db.scalar(select(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.first_name == "Daniel"))
    note = "Your roster rebuild cut overtime by a fifth."
    client.post(f"/applications/{application.id}/note",
                data={"note": note, "base_revision": application.note_revision})
    letter = db.scalar(select(Letter).where(Letter.application_id == application.id))
    login("auditor", org=manager.organization)
    assert client.get(url).status_code == 200  # the reader's review, under the new key
    db.expire_all()
    assert note not in db.get(Letter, letter.id).text  # a reader refreshes nothing
    login("admin", org=manager.organization)  # another editor
    assert client.get(url).status_code == 200
    db.expire_all()
    assert note in db.get(Letter, letter.id).text
