"""Templates that cannot fail later (issue 12, point 5).

Saving a boilerplate renders it for every candidate who would receive it; hand-made
placeholders and unknown fields are refused; an empty merge field is an error for its letter
unless the template guards it; and a letter whose boilerplate still fails for its candidate
breaks no page.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from recruiter.errors import RecruiterError, TemplateError
from recruiter.models import (
    Application,
    Boilerplate,
    BoilerplateVersion,
    Candidate,
    Letter,
    Position,
)
from recruiter.services import approval, files
from recruiter.services import letters as service
from recruiter.services.boilerplates import save_version
from recruiter.services.rendering import Boilerplate as Source
from recruiter.services.rendering import CandidateFields, LetterContext, render_letter
from recruiter.services.shipped import (
    DEFAULT_SUBJECT,
    load_template,
    shipped_boilerplates,
    shipped_for_stage,
)

TODAY = date(2026, 11, 22)
OKAFOR = "{% if candidate.last_name == 'Okafor' %}{{ 1/0 }}{% endif %}\n"


def _bp(db, org_id: int, name: str = "interviewed") -> Boilerplate:  # noqa: ANN001
    return db.scalar(select(Boilerplate).where(Boilerplate.organization_id == org_id,
                                               Boilerplate.name == name))


def _versions(db, bp: Boilerplate) -> int:  # noqa: ANN001
    """The English versions (the organization's language, which a save goes into)."""
    return db.scalar(select(func.count()).select_from(BoilerplateVersion).where(
        BoilerplateVersion.boilerplate_id == bp.id, BoilerplateVersion.language == "en"))


def _letter_of(db, position: Position, last_name: str) -> Letter:  # noqa: ANN001
    return db.scalar(select(Letter).join(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.last_name == last_name))


def _context(**candidate: str) -> LetterContext:
    fields = {"first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada Lovelace",
              "salutation": "Ada", "city": "Vancouver", **candidate}
    return LetterContext(candidate=CandidateFields(**fields), note="A fine note.",
                         differentiator="aviation experience", position_title="Coordinator",
                         position_location="Vancouver", organization_name="Harbour Air",
                         sender_name="Jordan Reyes", today=TODAY)


def _break_in_database(db, position: Position) -> Boilerplate:  # noqa: ANN001
    """Put a version that fails for Daniel Okafor straight into the database."""
    bp = _bp(db, position.organization_id)
    current = bp.current
    number = max(v.number for v in bp.versions) + 1  # numbers run across languages
    bp.versions.append(BoilerplateVersion(number=number, subject=current.subject,
                                          body=current.body + OKAFOR))
    db.commit()
    return bp


# --- saving -----------------------------------------------------------------------------------

def test_template_failing_for_one_candidate_cannot_be_saved(client, db, login, make_position):
    """The editor refuses a version that fails only for Okafor, names him, and keeps the text."""
    member = login("admin")
    make_position(org=member.organization)
    bp = _bp(db, member.organization_id)
    body = bp.current.body + OKAFOR
    response = client.post(f"/boilerplates/{bp.id}", data={
        "subject": bp.current.subject, "body": body, "save": "1"})
    assert response.status_code == 422
    errors = response.text[response.text.index('id="template-errors"'):][:3000]
    assert "Daniel Okafor" in errors and "division by zero" in errors
    assert "fails for 1 candidate " in errors
    assert "{{ 1/0 }}{% endif %}" in response.text  # the typed text is still in the editor
    assert _versions(db, bp) == 1


def test_save_refusal_names_ten_candidates_then_counts_the_rest(db, make_position):
    """A version failing for many candidates names the first ten, then says how many more."""
    position = make_position()
    bp = _bp(db, position.organization_id, "not-interviewed")
    body = bp.current.body + "{% if candidate.stage == 'applied' %}{{ 1/0 }}{% endif %}"
    with pytest.raises(TemplateError) as refused:
        save_version(db, bp, subject=bp.current.subject, body=body, by=None)
    applied = db.scalar(select(func.count()).select_from(Application).where(
        Application.position_id == position.id, Application.stage == "applied",
        Application.outcome == "declined"))
    message = str(refused.value)
    assert f"fails for {applied} candidates" in message
    assert f"and {applied - 10} more" in message
    assert "Olivia Brown" in message  # sorted by last name: Brown comes first


def test_save_checks_only_open_positions_that_use_the_boilerplate(db, make_position):
    """A closed position, or one with another boilerplate, does not stop a save."""
    position = make_position()
    bp = _bp(db, position.organization_id)
    position.boilerplate_id = _bp(db, position.organization_id, "not-interviewed").id
    db.commit()
    version = save_version(db, bp, subject=bp.current.subject, body=bp.current.body + OKAFOR,
                           by=None)
    assert bp.current.id == version.id  # the newest English version

    chosen = _bp(db, position.organization_id, "not-interviewed")
    with pytest.raises(TemplateError, match="Daniel Okafor"):
        save_version(db, chosen, subject=chosen.current.subject,
                     body=chosen.current.body + OKAFOR, by=None)
    db.rollback()
    position = db.get(Position, position.id)
    position.status = "closed"
    db.commit()
    chosen = _bp(db, position.organization_id, "not-interviewed")
    saved = save_version(db, chosen, subject=chosen.current.subject,
                         body=chosen.current.body + OKAFOR, by=None)
    assert chosen.current.id == saved.id


@pytest.mark.parametrize(("text", "named"), [
    ("Dear [Candidate Name],", "[Candidate Name]"),
    ("Dear [Name],", "[Name]"),
    ("Dear <name>,", "<name>"),
    ("Dear <first name>,", "<first name>"),
    ("Dear XXX,", "XXX"),
    ("Dear {first_name},", "{first_name}"),
    ("Dear %NAME%,", "%NAME%"),
    ("Dear {{ candidate.nickname }},", "candidate.nickname"),
    ("Dear {{ company }},", "company"),
])
def test_placeholders_and_unknown_fields_are_refused_at_save(db, make_position, text, named):
    """A hand-made placeholder or an unknown field is refused, named with its line."""
    position = make_position()
    bp = _bp(db, position.organization_id)
    body = f"Hello.\n\n{text}\n\nThanks, {{{{ sender.name }}}}."
    with pytest.raises(TemplateError) as refused:
        save_version(db, bp, subject="Hi", body=body, by=None)
    message = str(refused.value)
    assert named in message and "Body, line 3" in message
    if "{{" in text:
        assert "Valid merge fields:" in message and "candidate.first_name" in message
    assert _versions(db, bp) == 1


def test_placeholder_is_shown_in_the_editor(client, db, login, make_position):
    """The editor shows a placeholder refusal with its line and keeps the typed text."""
    member = login("admin")
    make_position(org=member.organization)
    bp = _bp(db, member.organization_id)
    response = client.post(f"/boilerplates/{bp.id}", data={
        "subject": "Hello", "body": "Hi,\nDear [Candidate Name], thanks.", "save": "1"})
    assert response.status_code == 422
    errors = response.text[response.text.index('id="template-errors"'):][:2000]
    assert "[Candidate Name]" in errors and 'data-line="2"' in errors
    assert "Dear [Candidate Name], thanks.</textarea>" in response.text
    assert _versions(db, bp) == 1


# --- empty merge fields -------------------------------------------------------------------

def test_blank_city_is_marked_in_preview_and_refused_in_send_mode():
    """A blank city prints ⟦candidate.city⟧ in preview and is refused when sending."""
    source = Source("Hello", "Good luck with your search in {{ candidate.city }}.")
    preview = render_letter(source, _context(city=""), preview=True)
    assert "search in \u27e6candidate.city\u27e7." in preview.text
    assert preview.missing == ("candidate.city",)
    with pytest.raises(TemplateError, match="candidate.city is empty"):
        render_letter(source, _context(city=""))
    assert "search in Vancouver." in render_letter(source, _context()).text


@pytest.mark.parametrize("body", [
    "{% if candidate.city %}Good luck in {{ candidate.city }}.{% endif %}Bye.",
    "Good luck in {{ candidate.city or 'your area' }}.",
    "Good luck in {{ candidate.city | default('your area') }}.",
    "{% if candidate.city == '' %}Good luck.{% endif %}",
])
def test_guarded_blank_city_renders_in_send_mode(body):
    """A template that tests the field before printing it sends fine with a blank city."""
    rendered = render_letter(Source("Hello", body), _context(city=""))
    assert "\u27e6" not in rendered.text and rendered.missing == ()


def test_blank_city_letter_has_an_unfilled_field_error(db, make_position):
    """A letter printing a blank city shows the mark and gets an error finding."""
    position = make_position()
    bp = _bp(db, position.organization_id, "not-interviewed")
    position.boilerplate_id = bp.id
    save_version(db, bp, subject=bp.current.subject,
                 body=bp.current.body + "\nGood luck in {{ candidate.city }}.\n", by=None)
    liam = db.scalar(select(Candidate).where(Candidate.last_name == "O'Brien"))
    liam.city = ""
    db.commit()
    letters = service.refresh_letters(db, position, today=TODAY)
    db.commit()
    letter = _letter_of(db, position, "O'Brien")
    assert "Good luck in \u27e6candidate.city\u27e7." in letter.text
    findings = approval.letter_findings(position, letters)[letter.id]
    assert any(f.severity == "error" and "candidate.city" in f.message for f in findings)
    others = [x for x in letters if x.id != letter.id]
    assert all("\u27e6" not in x.text for x in others)


def test_shipped_letters_render_for_every_vancouver_candidate(db, make_position):
    """Both shipped letters send for every declined candidate and one with no address."""
    position = make_position()
    liam = db.scalar(select(Candidate).where(Candidate.last_name == "O'Brien"))
    for name in ("address_line1", "address_line2", "city", "region", "postal_code",
                 "country"):
        setattr(liam, name, "")
    db.commit()
    declined = db.scalars(select(Application).where(
        Application.position_id == position.id, Application.outcome == "declined")).all()
    assert len(declined) == 29
    for application in declined:
        context = service.context_for(application, today=TODAY)
        for shipped in shipped_boilerplates().values():
            rendered = render_letter(shipped.source, context)  # send mode: nothing missing
            assert rendered.missing == ()
        if not application.note:  # an empty note is guarded, not printed
            assert "\u27e6" not in render_letter(shipped_for_stage(application.stage).source,
                                                 context, preview=True).text


# --- a failing version that got into the database -----------------------------------------

def test_failing_letter_breaks_no_page_and_cannot_be_approved(client, db, login,
                                                               make_position):
    """A version failing for Okafor breaks no page; his letter shows its error and is held."""
    member = login("manager")
    position = make_position(org=member.organization)
    assert client.get(f"/positions/{position.id}/letters").status_code == 200
    _break_in_database(db, position)

    assert client.get(f"/positions/{position.id}/letters").status_code == 200
    db.expire_all()
    letter = _letter_of(db, position, "Okafor")
    assert letter.render_error and "division by zero" in letter.render_error
    assert letter.text == "" and letter.html == ""
    assert _letter_of(db, position, "Lefebvre").render_error is None

    assert client.get(f"/letters/{letter.id}").status_code == 200
    assert client.get(f"/letters/{letter.id}/email").status_code == 200
    pdf = client.get(f"/letters/{letter.id}/letter.pdf")
    assert pdf.status_code == 409 and "division by zero" in pdf.text

    response = client.post(f"/positions/{position.id}/letters.zip")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert not any("Okafor" in name for name in archive.namelist())
    rows = list(csv.DictReader(io.StringIO(archive.read("index.csv").decode())))
    okafor = next(r for r in rows if r["candidate"] == "Daniel Okafor")
    assert "division by zero" in okafor["problem"] and okafor["pdf"] == ""
    assert sum(1 for r in rows if r["pdf"]) == 28

    client.post(f"/letters/{letter.id}/approve", data={"acknowledge": "y"})
    db.expire_all()
    assert db.get(Letter, letter.id).status == "draft"
    findings = approval.letter_findings(position, [db.get(Letter, letter.id)])[letter.id]
    assert findings[0].check == "render-error" and findings[0].severity == "error"
    with pytest.raises(RecruiterError):
        approval.approve_letter(db, db.get(Letter, letter.id), findings, member,
                               acknowledge=True)


def test_fixed_version_clears_the_render_error(db, make_position):
    """A later successful render clears the letter's render_error and fills it again."""
    position = make_position()
    service.refresh_letters(db, position, today=TODAY)
    db.commit()
    bp = _break_in_database(db, position)
    service.refresh_letters(db, position, today=TODAY)
    db.commit()
    assert _letter_of(db, position, "Okafor").render_error
    save_version(db, bp, subject=bp.current.subject, body=bp.versions[0].body, by=None)
    service.refresh_letters(db, position, today=TODAY)
    db.commit()
    letter = _letter_of(db, position, "Okafor")
    assert letter.render_error is None and "Dear Daniel," in letter.text


def test_print_bundle_refuses_while_a_post_letter_fails(db, make_position):
    """The print bundle names the post letter that fails instead of leaving it out."""
    position = make_position()
    bp = _bp(db, position.organization_id, "not-interviewed")
    bp.versions.append(BoilerplateVersion(
        number=max(v.number for v in bp.versions) + 1, subject=bp.current.subject,
        body=bp.current.body + "{% if candidate.last_name == 'Hassan' %}{{ 1/0 }}{% endif %}"))
    db.commit()
    service.refresh_letters(db, position, today=TODAY)
    db.commit()
    with pytest.raises(RecruiterError, match="Ahmed Hassan"):
        files.print_bundle(db, position)


# --- load_template ---------------------------------------------------------------------------

def test_load_template_reads_a_folder(tmp_path: Path):
    """A folder with body.md, subject.txt and meta.toml loads under the folder's name."""
    folder = tmp_path / "warm"
    folder.mkdir()
    (folder / "body.md").write_text("Dear {{ candidate.first_name }},\n\nThanks.\n")
    (folder / "subject.txt").write_text("About {{ position.title }}\n")
    (folder / "meta.toml").write_text('title = "Warm"\n')
    name, source = load_template(str(folder))
    assert name == "warm"
    assert source.subject == "About {{ position.title }}"
    assert source.body.startswith("Dear {{ candidate.first_name }}")


def test_load_template_reads_a_single_body_file(tmp_path: Path):
    """A single body file gets the default subject."""
    body = tmp_path / "letter.md"
    body.write_text("Dear {{ candidate.first_name }},\n\nThanks.\n")
    name, source = load_template(str(body))
    assert name == "letter.md" and source.subject == DEFAULT_SUBJECT


def test_load_template_finds_a_shipped_name():
    """A shipped boilerplate's name loads its text."""
    name, source = load_template("interviewed")
    assert name == "interviewed"
    assert source == shipped_boilerplates()["interviewed"].source


def test_load_template_refuses_missing_bad_and_unfit_files(tmp_path: Path):
    """A missing path, non-UTF-8 text, a placeholder or an unknown field is refused by file."""
    with pytest.raises(RecruiterError, match="no such boilerplate"):
        load_template(str(tmp_path / "nowhere"))
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(RecruiterError, match="body.md: no such file"):
        load_template(str(folder))
    latin = tmp_path / "latin.md"
    latin.write_bytes("Caf\u00e9 {{ candidate.first_name }}".encode("latin-1"))
    with pytest.raises(RecruiterError, match="latin.md: not UTF-8"):
        load_template(str(latin))
    placeholder = tmp_path / "old.md"
    placeholder.write_text("Dear [Candidate Name],\n")
    with pytest.raises(TemplateError, match=r"old\.md: Body, line 1: .\[Candidate Name\]"):
        load_template(str(placeholder))
    unknown = tmp_path / "nick.md"
    unknown.write_text("Hi\nDear {{ candidate.nickname }},\n")
    with pytest.raises(TemplateError, match="line 2: unknown merge field .candidate.nickname"):
        load_template(str(unknown))
