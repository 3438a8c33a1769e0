"""The letters service: refresh, checks, overrides, approvals, PDFs, emails and exports."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from pdftools import page_count
from pdftools import pdf_text as _pdf_text
from sqlalchemy import event, select

from recruiter.errors import RecruiterError
from recruiter.models import Application, Batch, Candidate, FrozenLetter, Letter, Organization
from recruiter.services import approval, files
from recruiter.services import letters as service
from recruiter.services.outcomes import change_outcome
from recruiter.services.positions import save_note

TODAY = date(2026, 11, 22)
EMPTY_NOTES = {"Fatima Haddad", "Ananya Iyer"}
HEADER = ("first_name,last_name,email,address_line1,city,region,postal_code,country,stage,"
          "outcome,note\n")


def refresh(db, position) -> list[Letter]:  # noqa: ANN001
    letters = service.refresh_letters(db, position, today=TODAY)
    db.commit()
    return letters


def by_name(letters: list[Letter]) -> dict[str, Letter]:
    return {x.application.candidate.full_name: x for x in letters}


WRITTEN_NOTES = (
    "The write-up of the cold-chain audit showed real care for the people doing the work.",
    "Your plan for the spring stocktake turned a week of overtime into two calm evenings.",
    "The way you rebuilt the loading-dock schedule around the ferry timetable impressed us.",
)


def write_empty_notes(db, letters: list[Letter]) -> None:  # noqa: ANN001
    for name, letter in by_name(letters).items():
        if name in EMPTY_NOTES:
            app = letter.application
            # Two sentences, as the notes page asks: a one-liner now reads as a colder letter;
            # each person's own, or the near-duplicate check would rightly object.
            save_note(db, app, f"{name}'s portfolio of warehouse audits was thorough. "
                      + WRITTEN_NOTES[len(name) % len(WRITTEN_NOTES)],
                      base_revision=app.note_revision, by=None)
    db.commit()


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    return " ".join(_pdf_text(pdf, tmp_path).split())


def synthetic_csv(n: int) -> bytes:
    lines = [HEADER, "Hira,Boss,hire@example.com,1 Main St,Vancouver,BC,V6E 1A1,Canada,"
                     "interviewed,hired,Ran ground operations.\n"]
    for i in range(1, n):
        stage = "interviewed" if i % 3 == 0 else "applied"
        lines.append(f"Cand{i},Person{i:05d},c{i}@example.com,{i} Oak St,Vancouver,BC,V6E 1A1,"
                     f"Canada,{stage},declined,Your application number {i} showed real care.\n")
    return "".join(lines).encode()


def test_refresh_makes_one_draft_per_declined_candidate(db, make_position):
    """29 drafts for Vancouver, none for the hire, sorted by last name, each with its note."""
    position = make_position()
    letters = refresh(db, position)
    names = [x.application.candidate.full_name for x in letters]
    assert len(letters) == 29
    assert "Maya Chen" not in names
    last = [x.application.candidate.last_name.casefold() for x in letters]
    assert last == sorted(last)
    assert {x.status for x in letters} == {"draft"}
    daniel = by_name(letters)["Daniel Okafor"]
    assert "rebuilding the shift roster" in daniel.text
    assert "rebuilding the shift roster" in daniel.html
    assert "aviation operations experience" in daniel.text
    assert "We read all 30 applications closely" in " ".join(daniel.text.split())
    assert daniel.boilerplate_version.boilerplate.name == "interviewed"
    assert by_name(letters)["Liam O'Brien"].boilerplate_version.boilerplate.name \
        == "not-interviewed"
    assert all(len(x.content_hash) == 64 for x in letters)
    assert daniel.note_revision == daniel.application.note_revision
    assert refresh(db, position) == letters  # a second run makes no new letters


def test_empty_notes_are_reported(db, make_position):
    """The two candidates without a note get an error about it, and the counts say so."""
    position = make_position()
    letters = refresh(db, position)
    findings = approval.letter_findings(position, letters)
    assert set(findings) == {x.id for x in letters}
    flagged = {name for name, x in by_name(letters).items()
               if any(f.check == "empty-note" for f in findings[x.id])}
    assert flagged == EMPTY_NOTES
    counts = approval.review_counts(letters, findings)
    assert counts["draft"] == counts["total"] == 29
    assert (counts["errors"], counts["warnings"]) == (0, 2)
    assert approval.differentiator_findings(position) == []
    assert counts["approved"] == counts["cancelled"] == counts["frozen"] == counts["sent"] == 0


def test_context_uses_real_counts_and_the_organization(db, make_position):
    """The context counts every application and the interviews, and signs as the org."""
    position = make_position()
    app = db.scalar(select(Application).join(Candidate).where(
        Application.position_id == position.id, Candidate.last_name == "Okafor"))
    ctx = service.context_for(app, today=TODAY, note="Override text")
    interviewed = sum(1 for a in position.applications if a.stage == "interviewed")
    assert (ctx.applicant_count, ctx.interviewed_count) == (30, interviewed)
    assert ctx.note == "Override text"
    assert ctx.organization_name == "Harbour Air Logistics"
    assert ctx.sender_name == "Jordan Reyes"
    assert ctx.candidate.first_name == "Daniel"
    assert service.context_for(app).note == app.note


def test_approved_letter_follows_its_content(db, make_position, make_member):
    """An approved letter stays approved when unchanged and is a draft after a note edit."""
    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    letter = by_name(refresh(db, position))["Daniel Okafor"]
    approval.approve_letter(db, letter, [], member, acknowledge=False)
    db.commit()
    assert letter.status == "approved"
    assert letter.approved_at.tzinfo is not None
    refresh(db, position)
    assert letter.status == "approved"
    app = letter.application
    save_note(db, app, "A different paragraph about your roster work.",
              base_revision=app.note_revision, by=member)
    db.commit()
    refresh(db, position)
    assert letter.status == "draft"
    assert letter.approved_at is None and letter.approved_by_id is None
    assert "A different paragraph" in letter.text
    assert letter.note_revision == app.note_revision


def test_differentiator_change_drops_approval(db, make_position, make_member):
    """A new differentiator re-renders the letter, so its approval goes."""
    from recruiter.services.positions import set_differentiator

    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    letter = by_name(refresh(db, position))["Daniel Okafor"]
    approval.approve_letter(db, letter, [], member, acknowledge=False)
    set_differentiator(db, position, "a commercial pilot licence and dispatch experience")
    db.commit()
    refresh(db, position)
    assert letter.status == "draft"
    assert "commercial pilot licence" in letter.text
    assert letter.differentiator_revision == position.differentiator_revision


def test_withdrawn_letter_is_cancelled_then_restored(db, make_position, make_member):
    """Withdrawing cancels the letter and its approval; a later decline restores a draft.

    Reinstating (pending) is no decision, so no letter; declining again brings back a draft.
    """
    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    letter = by_name(refresh(db, position))["Zoë Lefebvre"]
    approval.approve_letter(db, letter, [], member, acknowledge=False)
    change_outcome(db, letter.application, "withdrawn")
    db.commit()
    letters = refresh(db, position)
    assert letter.status == "cancelled" and letter.approved_at is None
    findings = approval.letter_findings(position, letters)
    assert letter.id not in findings
    counts = approval.review_counts(letters, findings)
    assert (counts["cancelled"], counts["total"]) == (1, 28)
    with pytest.raises(RecruiterError, match="cancelled"):
        approval.approve_letter(db, letter, [], member, acknowledge=True)
    change_outcome(db, letter.application, "pending")
    db.commit()
    refresh(db, position)
    assert letter.status == "cancelled"
    change_outcome(db, letter.application, "declined")
    db.commit()
    refresh(db, position)
    assert letter.status == "draft" and letter.cancel_reason is None


def test_replacing_the_hire_cancels_their_letter_and_gives_the_old_hire_none(db, make_position):
    """Replacing the hire (confirmed) cancels the new hire's letter; the old one is pending."""
    position = make_position()
    letter = by_name(refresh(db, position))["Daniel Okafor"]
    maya = next(a for a in position.applications if a.outcome == "hired")
    change_outcome(db, letter.application, "hired", replace=maya.id, confirmed=True)
    db.commit()
    letters = by_name(refresh(db, position))
    assert letter.status == "cancelled"
    assert maya.outcome == "pending" and "Maya Chen" not in letters
    findings = approval.letter_findings(position, list(letters.values()))
    hire_hits = [f for f in findings[letters["Zoë Lefebvre"].id] if "Okafor" in f.message]
    assert not hire_hits  # the hire's name is not in anyone's letter


def test_frozen_and_sent_letters_are_never_touched(db, make_position):
    """A frozen or sent letter keeps its text and status whatever changes."""
    position = make_position()
    letters = by_name(refresh(db, position))
    frozen, sent = letters["Daniel Okafor"], letters["Priya Nair"]
    frozen.status, sent.status = "frozen", "sent"
    db.commit()
    before = (frozen.text, frozen.content_hash, sent.text)
    for letter in (frozen, sent):
        save_note(db, letter.application, "Changed after freezing.",
                  base_revision=letter.application.note_revision, by=None)
    change_outcome(db, sent.application, "withdrawn")
    db.commit()
    refresh(db, position)
    assert (frozen.text, frozen.content_hash, sent.text) == before
    assert (frozen.status, sent.status) == ("frozen", "sent")
    with pytest.raises(RecruiterError, match="frozen"):
        approval.set_note_override(db, frozen, "New text", None)


def test_note_override_is_recorded_rendered_and_cleared(db, make_position, make_member):
    """An override replaces the note in this letter only; empty text goes back to the note."""
    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    letters = by_name(refresh(db, position))
    letter = letters["Fatima Haddad"]  # her note is empty
    approval.set_note_override(db, letter, "  Your logistics internship stood out.\r\n", member)
    db.commit()
    assert letter.note_override == "Your logistics internship stood out."
    assert letter.note_override_by_id == member.id
    assert "Your logistics internship stood out." in letter.text
    assert letter.application.note == ""
    findings = approval.letter_findings(position, list(letters.values()))
    assert not [f for f in findings[letter.id] if f.check == "empty-note"]
    refresh(db, position)  # a refresh keeps the override
    assert "Your logistics internship stood out." in letter.text
    approval.set_note_override(db, letter, "   ", member)
    db.commit()
    assert letter.note_override is None and letter.note_override_by_id is None
    assert "internship" not in letter.text


def test_override_on_approved_letter_makes_it_a_draft(db, make_position, make_member):
    """Changing an approved letter's paragraph takes its approval away."""
    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    letter = by_name(refresh(db, position))["Daniel Okafor"]
    approval.approve_letter(db, letter, [], member, acknowledge=False)
    approval.set_note_override(db, letter, "A paragraph written for this letter.", member)
    assert letter.status == "draft"
    assert "A paragraph written for this letter." in letter.text


def name_the_hire(db, letter: Letter) -> None:  # noqa: ANN001
    """Give a letter an error: its note names the person who was hired."""
    app = letter.application
    save_note(db, app, "Like Maya Chen, you clearly understand turnaround planning well.",
              base_revision=app.note_revision, by=None)
    db.commit()


def test_approve_letter_refuses_errors_and_unacknowledged_warnings(db, make_position,
                                                                   make_member):
    """Errors block approval; warnings need the acknowledgement, which is then stored."""
    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    letters = by_name(refresh(db, position))
    name_the_hire(db, letters["Grace Kim"])
    refresh(db, position)
    findings = approval.letter_findings(position, list(letters.values()))
    wrong = letters["Grace Kim"]
    assert any(f.severity == "error" for f in findings[wrong.id])
    with pytest.raises(RecruiterError, match="error"):
        approval.approve_letter(db, wrong, findings[wrong.id], member, acknowledge=True)
    assert wrong.status == "draft"

    empty = letters["Ananya Iyer"]
    assert [f.severity for f in findings[empty.id]] == ["warning"]
    with pytest.raises(RecruiterError, match="tick"):
        approval.approve_letter(db, empty, findings[empty.id], member, acknowledge=False)
    assert empty.status == "draft"
    approval.approve_letter(db, empty, findings[empty.id], member, acknowledge=True)
    assert empty.status == "approved"
    assert empty.approved_by_id == member.id
    assert empty.approved_at.tzinfo == UTC
    assert [a["check"] for a in empty.acknowledged] == ["empty-note"]
    warning = findings[empty.id][0]  # its id, severity and span, never its words
    assert empty.acknowledged == [{"check": "empty-note", "severity": "warning",
                                   "start": warning.start, "end": warning.end}]

    approval.unapprove_letter(db, empty)
    assert (empty.status, empty.approved_at, empty.acknowledged) == ("draft", None, [])
    with pytest.raises(RecruiterError, match="approved"):
        approval.unapprove_letter(db, empty)


def test_approve_all_refuses_a_wrong_count_and_errors(db, make_position, make_member):
    """A mismatched count or any error refuses the batch and approves nothing."""
    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    letters = by_name(refresh(db, position))
    with pytest.raises(RecruiterError, match="You confirmed 28 letters but there are 29"):
        approval.approve_all(db, position, member, expected_count=28, acknowledge_warnings=True)
    name_the_hire(db, letters["Grace Kim"])
    with pytest.raises(RecruiterError, match="^1 letter has errors"):
        approval.approve_all(db, position, member, expected_count=29, acknowledge_warnings=True)
    assert not db.scalars(select(Letter).where(Letter.status == "approved")).all()


def test_approve_all_approves_every_letter(db, make_position, make_member):
    """With the empty notes' warnings acknowledged, all 29 letters are approved at once."""
    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    letters = refresh(db, position)
    with pytest.raises(RecruiterError, match="warnings"):
        approval.approve_all(db, position, member, expected_count=29, acknowledge_warnings=False)
    assert approval.approve_all(db, position, member, expected_count=29,
                               acknowledge_warnings=True) == 29
    db.commit()
    assert db.scalars(select(Letter.status)).all() == ["approved"] * 29
    named = by_name(letters)
    assert [a["check"] for a in named["Fatima Haddad"].acknowledged] == ["empty-note"]
    assert named["Daniel Okafor"].acknowledged == []
    assert {x.approved_by_id for x in letters} == {member.id}
    for letter in letters:
        letter.status = "sent"
    with pytest.raises(RecruiterError, match="no letters"):
        approval.approve_all(db, position, member, expected_count=0, acknowledge_warnings=True)


def test_approve_all_after_writing_the_notes_needs_no_acknowledgement(db, make_position,
                                                                      make_member):
    """Once every note is written, there is nothing to acknowledge."""
    position = make_position()
    member = make_member(org=db.get(Organization, position.organization_id))
    write_empty_notes(db, refresh(db, position))
    assert approval.approve_all(db, position, member, expected_count=29,
                               acknowledge_warnings=False) == 29


def count_refresh_statements(db, position) -> tuple[int, int]:  # noqa: ANN001
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        statements.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        db.expire_all()
        refresh(db, position)
        first = len(statements)
        statements.clear()
        db.expire_all()
        refresh(db, position)
        return first, len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_refresh_has_no_n_plus_one(db, make_org, make_position):
    """The number of statements a refresh runs does not grow with the applications."""
    small = make_position(org=make_org("Small Org"), csv=synthetic_csv(30))
    large = make_position(org=make_org("Large Org"), csv=synthetic_csv(130))
    assert count_refresh_statements(db, small) == count_refresh_statements(db, large)
    assert len(large.applications) == 130


@pytest.mark.slow
def test_refresh_handles_5000_applications(db, make_org, make_position):
    """5,000 applications get one letter each, and a second refresh leaves them as they were.

    How fast is measured by bench/bench_web.py, never by a timed test.
    """
    position = make_position(org=make_org("Big Org"), csv=synthetic_csv(5000))
    letters = refresh(db, position)
    assert len(letters) == 4999
    assert len({x.application_id for x in letters}) == 4999
    hashes = {x.id: x.content_hash for x in letters}
    again = refresh(db, position)
    assert {x.id: x.content_hash for x in again} == hashes


def test_zip_holds_every_letter_and_a_safe_index(db, make_position, monkeypatch):
    """The streamed ZIP has 29 PDFs, an .eml per email address, and a neutralised index."""
    batches: list[int] = []
    real_render_pdfs = files.render_pdfs_parallel

    def counting(letters, **kwargs):  # noqa: ANN001, ANN003, ANN202
        batches.append(len(letters))
        return real_render_pdfs(letters, **kwargs)

    monkeypatch.setattr(files, "render_pdfs_parallel", counting)
    position = make_position()
    letters = by_name(refresh(db, position))
    hostile = '=HYPERLINK("http://evil.example","click")'
    letters["Daniel Okafor"].application.candidate.first_name = hostile
    db.commit()
    chunks = list(files.iter_letters_zip(db, position, chunk=10))
    assert len(chunks) > 29  # streamed as it goes, not built whole
    assert batches == [10, 10, 9]  # one layout pass per chunk, never all PDFs at once
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    names = archive.namelist()
    pdfs = [n for n in names if n.endswith(".pdf")]
    emls = [n for n in names if n.endswith(".eml")]
    assert len(pdfs) == 29
    with_email = sum(1 for x in letters.values() if x.application.candidate.email)
    assert len(emls) == with_email == 28
    assert all(re.fullmatch(r"\d{3}-[A-Za-z0-9-]+\.(pdf|eml)", n) for n in pdfs + emls)
    assert "002-brown-olivia.pdf" in names  # the slug merge and downloads use
    assert archive.read(pdfs[0]).startswith(b"%PDF-")
    rows = list(csv.DictReader(io.StringIO(archive.read("index.csv").decode())))
    assert len(rows) == 29
    bad = next(r for r in rows if "HYPERLINK" in r["candidate"])
    assert bad["candidate"].startswith("'=")
    assert not any(v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())
    ahmed = next(r for r in rows if r["candidate"] == "Ahmed Hassan")
    assert (ahmed["channel"], ahmed["eml"]) == ("post", "")
    msg = message_from_bytes(archive.read(emls[0]), policy=policy.default)
    assert msg["From"].addresses[0].addr_spec == "hiring@harbourair.example.com"


def _frozen(db, letter: Letter, batch: Batch, *, eml: bytes | None, pdf: bytes | None) -> None:  # noqa: ANN001
    """Freeze ``letter`` by hand with these bytes, as services/sending/freeze.py would."""
    letter.status, letter.batch_id = "frozen", batch.id
    db.add(FrozenLetter(organization_id=letter.organization_id, letter=letter, batch_id=batch.id,
                        boilerplate_version_id=letter.boilerplate_version_id,
                        message_id=f"<stored-{letter.id}@example.com>", eml=eml, pdf=pdf,
                        frozen_at=datetime.now(UTC)))


def test_zip_uses_stored_bytes_of_frozen_letters(db, make_position):
    """A frozen letter's exact bytes go into the ZIP unchanged; what was not frozen is laid out.

    An email letter freezes to its .eml only: its PDF in the ZIP is rendered on request. A
    postal letter's frozen PDF is used as it is.
    """
    position = make_position()
    letters = by_name(refresh(db, position))
    batch = Batch(organization_id=position.organization_id, position_id=position.id)
    db.add(batch)
    db.flush()
    email, post = letters["Daniel Okafor"], letters["Ahmed Hassan"]
    _frozen(db, email, batch, eml=b"Subject: stored\r\n", pdf=None)
    _frozen(db, post, batch, eml=None, pdf=b"%PDF-stored")
    db.commit()
    archive = zipfile.ZipFile(io.BytesIO(b"".join(files.iter_letters_zip(db, position))))
    stem = next(n for n in archive.namelist() if "okafor" in n).rsplit(".", 1)[0]
    assert archive.read(f"{stem}.eml") == b"Subject: stored\r\n"
    assert archive.read(f"{stem}.pdf").startswith(b"%PDF-1.")  # laid out now, not stored
    stem = next(n for n in archive.namelist() if "hassan" in n).rsplit(".", 1)[0]
    assert archive.read(f"{stem}.pdf") == b"%PDF-stored"
    assert f"{stem}.eml" not in archive.namelist()
    assert files.letter_pdf(post) == b"%PDF-stored"
    assert files.letter_eml(email) == b"Subject: stored\r\n"
    assert files.letter_pdf(email).startswith(b"%PDF-1.")


def test_print_bundle_holds_the_post_letters(db, make_position, tmp_path):
    """The print bundle has one page per letter that goes by post, and none is refused."""
    position = make_position()
    letters = by_name(refresh(db, position))
    for name in ("Grace Kim", "Wei Zhang"):
        letters[name].application.channel = "post"
    db.commit()
    post = [x for x in letters.values() if x.application.letter_channel == "post"]
    assert len(post) == 3  # Ahmed Hassan has no email address
    bundle = files.print_bundle(db, position)
    assert page_count(bundle, tmp_path) == 3
    text = pdf_text(bundle, tmp_path)
    assert "Ahmed Hassan" in text and "Grace Kim" in text and "Daniel Okafor" not in text
    for letter in post:
        change_outcome(db, letter.application, "withdrawn")
    refresh(db, position)
    with pytest.raises(RecruiterError, match="No letter of this position goes by post."):
        files.print_bundle(db, position)


def test_letter_pdf_and_eml_show_the_letter(db, make_position, tmp_path):
    """The PDF carries the letterhead, address and note; the .eml goes to the candidate."""
    position = make_position()
    letters = by_name(refresh(db, position))
    letter = letters["Daniel Okafor"]
    text = pdf_text(files.letter_pdf(letter), tmp_path)
    assert "Harbour Air Logistics" in text
    assert "455 Granville Street" in text
    assert "rebuilding the shift roster at a 24-hour distribution centre" in text
    assert text.count("Jordan Reyes") == 1  # the body signs; the letterhead does not repeat it
    msg = message_from_bytes(files.letter_eml(letter), policy=policy.default)
    assert msg["To"].addresses[0].addr_spec == "daniel.okafor@example.org"
    assert msg["Subject"] == letter.subject
    assert "rebuilding the shift roster" in msg.get_body(("plain",)).get_content()
    with pytest.raises(RecruiterError, match="no email address"):
        files.letter_eml(letters["Ahmed Hassan"])


def test_position_boilerplate_is_used_when_set(db, make_position):
    """A position with its own boilerplate uses its newest version for every letter."""
    from recruiter.models import Boilerplate
    from recruiter.services.boilerplates import save_version

    position = make_position()
    bp = db.scalar(select(Boilerplate).where(Boilerplate.name == "not-interviewed",
                                             Boilerplate.organization_id
                                             == position.organization_id))
    version = save_version(db, bp, subject="About {{ position.title }}",
                           body="Dear {{ candidate.first_name }},\n\n{{ note }}\n", by=None)
    position.boilerplate = bp
    db.commit()
    letters = refresh(db, position)
    assert {x.boilerplate_version_id for x in letters} == {version.id}
    assert by_name(letters)["Daniel Okafor"].subject == "About Operations Coordinator"
