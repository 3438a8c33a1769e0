"""Letters in each candidate's language: versions per language, fallback, translations, merge."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from pdftools import pdf_text
from sqlalchemy import delete, select

from recruiter.errors import TemplateError
from recruiter.models import Application, Boilerplate, BoilerplateVersion, Candidate, Letter
from recruiter.paths import LETTERS_DIR
from recruiter.services import approval, files
from recruiter.services import letters as service
from recruiter.services.boilerplates import ensure_shipped, save_version
from recruiter.services.importing import accepted_rows, parse_candidates
from recruiter.services.languages import normalise, typography
from recruiter.services.pdf_layout import _item
from recruiter.services.positions import create_position, import_rows
from recruiter.services.rendering import Boilerplate as Source
from recruiter.services.rendering import CandidateFields, LetterContext, render_letter
from recruiter.services.shipped import shipped_boilerplates

TODAY = date(2026, 12, 3)
NNBSP, NBSP = "\u202f", "\u00a0"
SUBJECTS = {"fr": "Votre candidature au poste «\u00a0", "es": "Su candidatura al puesto de ",
            "de": "Ihre Bewerbung: "}
DATES = {"fr": "3 décembre 2026", "es": "3 de diciembre de 2026", "de": "3. Dezember 2026"}
DIFFERENTIATORS = {"fr": "une solide expérience des opérations aériennes",
                   "es": "una sólida experiencia en operaciones aéreas",
                   "de": "fundierte Erfahrung im Flugbetrieb"}
TITLES = {"fr": "Directeur des opérations", "es": "Director de operaciones",
          "de": "Betriebsleiter"}
# Zoë Lefebvre, Daniel Okafor and Arjun Mehta: declined, with notes, with email addresses.
PEOPLE = {"fr": "Lefebvre", "es": "Okafor", "de": "Mehta"}


def words(text: str) -> str:
    """Text with every run of spaces (no-break ones too) as one space."""
    return " ".join(text.split())


def phrase(name: str, language: str) -> str:
    """The first words of a shipped version's text with no merge field or tag in them."""
    body = (LETTERS_DIR / name / language / "body.md").read_text(encoding="utf-8")
    for line in body.splitlines():
        plain = re.split(r"\{[{%]", line)[0]
        if len(plain.split()) >= 6:
            return " ".join(plain.split()[:6])
    raise AssertionError(f"no plain sentence in {name}/{language}/body.md")


def by_surname(letters: list[Letter]) -> dict[str, Letter]:
    return {x.application.candidate.last_name: x for x in letters}


def speak(db, position, languages: dict[str, str]) -> None:  # noqa: ANN001
    """Give the candidates named by surname their languages."""
    for language, surname in languages.items():
        candidate = db.scalar(select(Candidate).join(Application).where(
            Application.position_id == position.id, Candidate.last_name == surname))
        candidate.language = language
    db.commit()


@pytest.fixture
def multilingual(db, make_org, make_position):  # noqa: ANN001, ANN201
    """The Vancouver position with a French, a Spanish and a German candidate, translated."""
    org = make_org()
    org.sender_title_in = dict(TITLES)
    position = make_position(org=org)
    position.differentiator_in = dict(DIFFERENTIATORS)
    db.commit()
    speak(db, position, PEOPLE)
    letters = service.refresh_letters(db, position, today=TODAY)
    db.commit()
    return org, position, letters


# --- typography and codes --------------------------------------------------------------------

def test_french_typography_spaces_punctuation() -> None:
    """French text gets a narrow no-break space before ; ! ? and a no-break one before :."""
    assert typography("Bravo ! Vraiment? Oui; enfin: merci", "fr") == (
        f"Bravo{NNBSP}! Vraiment{NNBSP}? Oui{NNBSP}; enfin{NBSP}: merci")
    assert typography("«Bravo»", "fr-CA") == f"«{NBSP}Bravo{NBSP}»"


def test_french_typography_leaves_urls_times_and_correct_text() -> None:
    """URLs, times and text already spaced the French way come out unchanged."""
    for text in ("Voir https://example.com/a?b=1;c=2 demain", "Rendez-vous à 10:30.",
                 f"Déjà juste{NBSP}: bien{NNBSP}!", "mailto:a@b.fr?subject=x"):
        assert typography(text, "fr") == text
    assert typography("Really? Yes: fine!", "en") == "Really? Yes: fine!"


def test_language_cells_are_normalised() -> None:
    """A language cell is trimmed and cased: FR is fr, fr_ca is fr-CA; blank stays blank."""
    assert normalise(" FR ") == "fr"
    assert normalise("fr_ca") == "fr-CA"
    assert normalise("") == ""


def test_number_filter_writes_numbers_in_the_letters_locale() -> None:
    """``|number`` groups digits as the letter's language does."""
    def count(locale: str) -> str:
        context = LetterContext(candidate=CandidateFields(first_name="A"), note="",
                                differentiator="", position_title="P", position_location="",
                                organization_name="O", sender_name="S", applicant_count=1234,
                                locale=locale)
        return render_letter(Source(subject="s", body="{{ applicant_count | number }}"),
                             context).text.strip()

    assert count("en") == "1,234"
    assert count("de") == "1.234"
    assert count("fr") == f"1{NNBSP}234"


# --- boilerplates ----------------------------------------------------------------------------

def test_shipped_boilerplates_come_in_every_shipped_language() -> None:
    """Each shipped boilerplate has a subject and body in en, fr, es and de."""
    for shipped in shipped_boilerplates().values():
        assert set(shipped.languages) == {"en", "fr", "es", "de"}
        assert shipped.source_in("fr-CA") is not None
        assert shipped.source == shipped.source_in("en")


def test_a_new_organization_gets_a_version_per_language(db, make_org) -> None:  # noqa: ANN001
    """A new organization's boilerplates have one version per language; current is its own."""
    org = make_org(locale="fr_CA")
    for bp in db.scalars(select(Boilerplate).where(Boilerplate.organization_id == org.id)):
        assert bp.languages == ["de", "en", "es", "fr"]
        assert bp.current.language == "fr"
        assert bp.version_in("de-AT").language == "de"
        assert bp.version_in("it") is None


def test_an_existing_organization_is_upgraded_without_touching_edits(db, make_org) -> None:  # noqa: ANN001
    """An organization with English only gains the new languages; its edit stays current."""
    org = make_org()
    bp = db.scalar(select(Boilerplate).where(Boilerplate.organization_id == org.id,
                                             Boilerplate.name == "interviewed"))
    db.execute(delete(BoilerplateVersion).where(BoilerplateVersion.boilerplate_id == bp.id,
                                                BoilerplateVersion.language != "en"))
    db.commit()
    db.expire_all()
    edited = save_version(db, bp, subject="Our own subject", body=bp.current.body + "\nP.S.",
                          by=None)
    db.commit()
    assert bp.languages == ["en"]
    added = ensure_shipped(db, org)
    db.commit()
    assert [x.name for x in added] == ["interviewed"]
    assert bp.languages == ["de", "en", "es", "fr"]
    assert bp.current.id == edited.id and bp.current.subject == "Our own subject"
    assert ensure_shipped(db, org) == []  # nothing more to add


def test_letters_upgrade_an_organization_that_lacks_a_language(db, make_org,  # noqa: ANN001
                                                               make_position) -> None:
    """A French candidate of an English-only organization gets the newly shipped French."""
    org = make_org()
    db.execute(delete(BoilerplateVersion).where(BoilerplateVersion.language != "en"))
    db.commit()
    position = make_position(org=org)
    position.differentiator_in = {"fr": DIFFERENTIATORS["fr"]}
    org.sender_title_in = {"fr": TITLES["fr"]}
    db.commit()
    speak(db, position, {"fr": "Lefebvre"})
    letters = service.refresh_letters(db, position, today=TODAY)
    letter = by_surname(letters)["Lefebvre"]
    assert letter.language == "fr"
    assert phrase(letter.boilerplate_version.boilerplate.name, "fr") in words(letter.text)


def test_save_version_in_a_language(db, make_org) -> None:  # noqa: ANN001
    """A version saved in French is the newest French one and leaves English current."""
    org = make_org()
    bp = db.scalar(select(Boilerplate).where(Boilerplate.organization_id == org.id,
                                             Boilerplate.name == "not-interviewed"))
    english = bp.current
    version = save_version(db, bp, subject="Votre candidature", body="Bonjour, merci.",
                           by=None, language="FR")
    db.commit()
    assert version.language == "fr" and bp.version_in("fr").id == version.id
    assert bp.current.id == english.id
    assert version.number == max(v.number for v in bp.versions)


def test_a_version_is_tried_on_the_candidates_in_its_language(db, multilingual) -> None:  # noqa: ANN001
    """A French version that fails for an English candidate saves; one failing in French not."""
    _, position, letters = multilingual
    bp = by_surname(letters)["Lefebvre"].boilerplate_version.boilerplate
    english = by_surname(letters)["Okafor"].application.candidate
    english.language = "en"
    db.commit()
    fails_for = "{%% if candidate.last_name == '%s' %%}{{ 1/0 }}{%% endif %%}"
    version = save_version(db, bp, subject="Merci", body="Bonjour." + fails_for % "Okafor",
                           by=None, language="fr")
    assert version.language == "fr"
    with pytest.raises(TemplateError, match="Lefebvre"):
        save_version(db, bp, subject="Merci", body="Bonjour." + fails_for % "Lefebvre",
                     by=None, language="fr")


# --- letters in each language ----------------------------------------------------------------

def test_each_candidate_gets_a_letter_in_their_language(multilingual, tmp_path: Path) -> None:  # noqa: ANN001
    """French, Spanish and German letters: text, email parts and PDF, dated their way."""
    org, position, letters = multilingual
    found = approval.letter_findings(position, letters)
    for language, surname in PEOPLE.items():
        letter = by_surname(letters)[surname]
        name = letter.boilerplate_version.boilerplate.name
        assert letter.language == language
        assert letter.boilerplate_version.language == language
        assert phrase(name, language) in words(letter.text)
        assert DIFFERENTIATORS[language] in words(letter.text)
        assert not [f for f in found[letter.id]
                    if f.check in ("language-fallback", "missing-translation")]
        message = message_from_bytes(files.letter_eml(letter), policy=policy.default)
        subject = str(message["Subject"]).strip()  # a long one is folded before its first word
        assert subject.startswith(SUBJECTS[language]), subject
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert phrase(name, language) in words(text)
        assert phrase(name, language).split()[-1] in html
        pdf = files.render_pdf(files.pdf_letter(letter, org, day=TODAY))
        printed = words(pdf_text(pdf, tmp_path))
        assert DATES[language] in printed
        assert phrase(name, language) in printed
    english = by_surname(letters)["Chen"] if "Chen" in by_surname(letters) else None
    assert english is None  # the hire gets no letter
    assert all(x.language == "en" for s, x in by_surname(letters).items()
               if s not in PEOPLE.values())


def test_french_letter_spaces_the_note_the_french_way(db, multilingual) -> None:  # noqa: ANN001
    """The note of a French letter gets French punctuation spacing; English notes do not."""
    _, position, letters = multilingual
    letter = by_surname(letters)["Lefebvre"]
    letter.application.note = "Votre calme: remarquable! Bravo."
    db.commit()
    letters = service.refresh_letters(db, position, today=TODAY)
    assert f"calme{NBSP}: remarquable{NNBSP}!" in by_surname(letters)["Lefebvre"].text


def test_a_language_without_a_version_falls_back_with_a_warning(db, multilingual) -> None:  # noqa: ANN001
    """An Italian candidate gets the English letter and a warning naming both languages."""
    _, position, _ = multilingual
    speak(db, position, {"it": "Lefebvre"})
    letters = service.refresh_letters(db, position, today=TODAY)
    letter = by_surname(letters)["Lefebvre"]
    assert letter.language == "en"
    findings = approval.letter_findings(position, letters)[letter.id]
    warning = next(f for f in findings if f.check == "language-fallback")
    assert warning.severity == "warning"
    title = letter.boilerplate_version.boilerplate.title
    assert warning.message == (f"No Italian version of “{title}”: this letter is in "
                               "English.")


def test_a_missing_translation_is_an_error(db, multilingual) -> None:  # noqa: ANN001
    """A French letter without a French differentiator or sender title cannot be approved."""
    org, position, _ = multilingual
    position.differentiator_in = {"es": DIFFERENTIATORS["es"]}
    org.sender_title_in = {}
    db.commit()
    letters = service.refresh_letters(db, position, today=TODAY)
    letter = by_surname(letters)["Lefebvre"]
    errors = [f for f in approval.letter_findings(position, letters)[letter.id]
              if f.check == "missing-translation"]
    assert [f.severity for f in errors] == ["error", "error"]
    assert errors[0].message == ("This letter is in French and the position has no "
                                 "differentiator in French: add it on the differentiator page.")
    assert "sender title in French" in errors[1].message
    assert DIFFERENTIATORS["fr"] not in letter.text


def test_arabic_candidates_fall_back_then_get_a_right_to_left_letter(db, multilingual) -> None:  # noqa: ANN001
    """No Arabic version: English with the warning; an Arabic version renders right to left."""
    org, position, _ = multilingual
    speak(db, position, {"ar": "Lefebvre"})
    position.differentiator_in = {**DIFFERENTIATORS, "ar": "خبرة عملية في عمليات الطيران"}
    org.sender_title_in = {**TITLES, "ar": "مدير العمليات"}
    db.commit()
    letters = service.refresh_letters(db, position, today=TODAY)
    letter = by_surname(letters)["Lefebvre"]
    assert letter.language == "en"
    assert any(f.check == "language-fallback"
               for f in approval.letter_findings(position, letters)[letter.id])
    bp = letter.boilerplate_version.boilerplate
    save_version(db, bp, subject="شكرا لاهتمامك بوظيفة {{ position.title }}",
                 body="عزيزي {{ candidate.salutation }}،\n\nنشكرك على اهتمامك بالوظيفة. "
                      "لقد اخترنا شخصا لديه {{ differentiator }}.\n\n{{ sender.title }}",
                 by=None, language="ar")
    db.commit()
    letters = service.refresh_letters(db, position, today=TODAY)
    letter = by_surname(letters)["Lefebvre"]
    assert letter.language == "ar"
    assert "خبرة عملية" in letter.text and "مدير العمليات" in letter.text
    assert not any(f.check in ("language-fallback", "missing-translation")
                   for f in approval.letter_findings(position, letters)[letter.id])
    item = _item(files.pdf_letter(letter, org, day=TODAY))
    assert item["dir"] == "rtl" and item["letter"].language == "ar"
    assert files.render_pdf(files.pdf_letter(letter, org, day=TODAY)).startswith(b"%PDF")


# --- import ----------------------------------------------------------------------------------

def test_blank_language_cells_take_the_organizations_language(db, make_org) -> None:  # noqa: ANN001
    """A blank cell is the organization's language; FR is fr; a region is kept."""
    org = make_org(locale="fr_CA")
    position = create_position(db, org, title="Agent", location="Montréal")
    data = (b"first_name,last_name,email,stage,outcome,language\n"
            b"Ana,Blank,a@example.com,applied,declined,\n"
            b"Ben,Upper,b@example.com,applied,declined,FR\n"
            b"Cy,Region,c@example.com,applied,declined,en_ca\n")
    import_rows(db, position, accepted_rows(parse_candidates(data)))
    db.commit()
    languages = dict(db.execute(select(Candidate.last_name, Candidate.language)).all())
    assert languages == {"Blank": "fr", "Upper": "fr", "Region": "en-CA"}


# --- merge -----------------------------------------------------------------------------------

MERGE_CSV = ("first_name,last_name,email,address_line1,city,region,postal_code,country,stage,"
             "outcome,note,language\n"
             "Hira,Boss,hire@example.com,1 Main St,Vancouver,BC,V6E 1A1,Canada,interviewed,"
             "hired,Ran ground operations.,\n"
             "Zoé,Lefebvre,zoe@example.com,2 Oak St,Vancouver,BC,V6E 1A1,Canada,interviewed,"
             "declined,Votre calme a marqué toute l'équipe.,FR\n"
             "Dan,Okafor,dan@example.com,3 Oak St,Vancouver,BC,V6E 1A1,Canada,applied,"
             "declined,Your roster work cut overtime by a fifth.,\n"
             "Gia,Rossi,gia@example.com,4 Oak St,Vancouver,BC,V6E 1A1,Canada,applied,"
             "declined,Your dashboard for a food bank stood out.,it\n")


def run_merge(tmp_path: Path, *extra: str):  # noqa: ANN201
    from recruiter.cli import merge_command

    source = tmp_path / "candidates.csv"
    source.write_text(MERGE_CSV, encoding="utf-8")
    return CliRunner().invoke(merge_command, [
        str(source), "--position", "Operations Coordinator", "--differentiator",
        "hands-on aviation operations experience", "--format", "txt",
        "--out", str(tmp_path / "out"), *extra], catch_exceptions=False)


def test_merge_writes_each_row_in_its_language(tmp_path: Path) -> None:
    """--differentiator-in gives the French letter its differentiator; Italian falls back."""
    result = run_merge(tmp_path, "--differentiator-in", "fr", DIFFERENTIATORS["fr"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    french = words(next(out.glob("*-lefebvre-*.txt")).read_text(encoding="utf-8"))
    assert phrase("interviewed", "fr") in french and DIFFERENTIATORS["fr"] in french
    english = words(next(out.glob("*-okafor-*.txt")).read_text(encoding="utf-8"))
    assert phrase("not-interviewed", "en") in english
    index = {row["name"]: row for row in csv.DictReader(io.StringIO(
        (out / "index.csv").read_text(encoding="utf-8")))}
    assert index["Zoé Lefebvre"]["language"] == "fr"
    assert index["Gia Rossi"]["language"] == "en"
    assert "No Italian version of" in index["Gia Rossi"]["warnings"]
    assert "this letter is in English" in result.output


def test_merge_refuses_a_row_whose_language_has_no_differentiator(tmp_path: Path) -> None:
    """Without --differentiator-in fr, the French row is named and nothing is written."""
    result = run_merge(tmp_path)
    assert result.exit_code != 0
    assert "Row 3 (Zoé Lefebvre)" in result.output
    assert "no differentiator in French" in result.output
    assert "--differentiator-in fr" in result.output
    assert not (tmp_path / "out").exists()
