"""The letter checks: each check with cases it must catch and near misses it must leave alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recruiter.services import checks
from recruiter.services.checks import (
    BatchFacts,
    LetterUnderCheck,
    check_batch,
    check_text,
    wordlists,
)

LETTER = ("Dear {first},\n\nThank you for applying for the Operations Coordinator position.\n\n"
          "{note}\n\nWarm regards,\n\nJordan Reyes")


def categories(text: str, **kwargs) -> set[str]:  # noqa: ANN003
    return {f.category for f in check_text(text, **kwargs)}


def spans(text: str, **kwargs) -> list[str]:  # noqa: ANN003
    return [text[f.start:f.end] for f in check_text(text, **kwargs) if f.start is not None]


@pytest.mark.parametrize(("sentence", "category", "span"), [
    ("We were looking for someone younger.", "age", "younger"),
    ("At your age the night shifts may be hard.", "age", "your age"),
    ("Candidates over 50 rarely stay long in this role.", "age", "over 50"),
    ("We felt a man would suit the warehouse floor better.", "sex_gender", "man"),
    ("The role needs a female presence on the team.", "sex_gender", "female"),
    ("With your pregnancy, the start date would not have worked.", "pregnancy", "pregnancy"),
    ("We understand you will be on maternity leave soon.", "pregnancy", "maternity"),
    ("Your ethnic background was not a factor.", "race_colour", "ethnic"),
    ("We had many Hispanic applicants this time.", "race_colour", "Hispanic"),
    ("We could not accommodate your religious holidays.", "religion", "religious holidays"),
    ("The team mostly goes to church together.", "religion", "church"),
    ("Your accent might make the phone work difficult.", "national_origin", "Your accent"),
    ("We preferred Canadian experience for this role.", "national_origin",
     "Canadian experience"),
    ("Your disability would make the warehouse walk-throughs difficult.", "disability_health",
     "disability"),
    ("We hope your mental health improves.", "disability_health", "mental health"),
    ("As a single mother you may find the hours hard.", "family_status", "single mother"),
    ("Your childcare arrangements seemed uncertain.", "family_status", "childcare"),
    ("Your husband's transfer made relocation unlikely.", "family_status", "husband"),
    ("Your sexual orientation played no part.", "sexual_orientation", "sexual orientation"),
    ("You mentioned your girlfriend works for a competitor.", "sexual_orientation",
     "girlfriend"),
])
def test_protected_characteristics_are_errors_with_their_span(sentence: str, category: str,
                                                               span: str) -> None:
    """A mention of a protected characteristic is an error pointing at the exact words."""
    found = [f for f in check_text(sentence) if f.category == category]
    assert found, f"missed {category} in {sentence!r}"
    assert found[0].severity == "error"
    assert found[0].check == "protected-characteristic"
    assert span in sentence[found[0].start:found[0].end]


@pytest.mark.parametrize(("sentence", "span"), [
    ("Frankly, you are overqualified for this role.", "overqualified"),
    ("You seemed over-qualified for a coordinator position.", "over-qualified"),
    ("We were worried about overqualification.", "overqualification"),
    ("In the end it came down to culture fit.", "culture fit"),
    ("We looked for a strong cultural fit.", "cultural fit"),
    ("You were not a good fit for the team.", "not a good fit"),
    ("It just was not the right fit.", "was not the right fit"),
    ("We are a younger team and move fast.", "younger team"),
    ("You are perhaps too experienced for this position.", "too experienced"),
    ("We needed a native speaker of English.", "native speaker"),
    ("We want native English on the phones.", "native English"),
    ("We were hoping for a digital native.", "digital native"),
])
def test_phrases_that_invite_challenge_are_warnings(sentence: str, span: str) -> None:
    """Challenge phrases, inflected and hyphenated, are warnings on the phrase itself."""
    found = [f for f in check_text(sentence) if f.check == "challenge-phrase"]
    assert len(found) == 1
    assert span in sentence[found[0].start:found[0].end]
    assert found[0].severity == "warning"


@pytest.mark.parametrize("sentence", [
    "Your engagement with our customers came through on every page.",
    "You managed a team of twelve and handled every message promptly.",
    "Your React Native app and your native mobile work impressed us.",
    "You found and fixed a race condition in the dispatch system.",
    "The older version of the scheduling tool is being retired.",
    "You helped a young company set up its first warehouse.",
    "Your fit-for-purpose process documentation was excellent.",
    "You built the health checks for our healthcare client's servers.",
    "You married two data sources into one clean report.",
    "You removed a single point of failure in the roster.",
    "You handled foreign exchange settlements and foreign key design.",
    "Your first aid certificate and health and safety record are strong.",
    "Coordinating volunteers for a multicultural festival is a real strength.",
    "The volunteer-coordination role you held for a youth sports league shows leadership.",
    "Thank you for the time and care you put into your application.",
    "French language skills were required for this role.",
    "You worked on gender-neutral language in the style guide.",
    "We know this is disappointing news.",
    "You don't have to reply to this letter.",
    "You cut lost-time injury rates by a third at your depot.",
    "Your work for a family-owned business shows versatility.",
])
def test_near_misses_are_not_flagged(sentence: str) -> None:
    """Innocent words that contain, or sit next to, risky ones are left alone."""
    assert check_text(sentence) == []


def test_the_candidates_own_name_is_never_a_risky_word() -> None:
    """'Christian' the name is not religion, in the greeting or when the caller names it."""
    assert check_text("Dear Christian,\n\nThank you for applying.") == []
    assert check_text("Thank you, Christian, for applying.", ignore_names=("Christian Obi",)) == []
    assert categories("Thank you, Christian, for applying.") == {"religion"}
    assert categories("Dear Faith,\n\nYour faith should not matter.") == {"religion"}


@pytest.mark.parametrize(("sentence", "span"), [
    ("Unfortunately you lacked the hands-on experience.", "you lacked"),
    ("You didn't have enough airside experience.", "You didn't have"),
    ("Your experience fell short of what the role needs.", "fell short"),
    ("Unlike the successful candidate, you have not worked airside.",
     "Unlike the successful candidate"),
    ("You were weaker in the scheduling exercise.", "You were weaker"),
])
def test_negative_comparisons_are_warnings(sentence: str, span: str) -> None:
    """Comparing the candidate negatively is flagged on the words that do it."""
    found = [f for f in check_text(sentence) if f.check == "negative-comparison"]
    assert len(found) == 1
    assert span in sentence[found[0].start:found[0].end]


@pytest.mark.parametrize(("sentence", "retention", "flagged"), [
    ("We will keep your resume on file for future openings.", 12, True),
    ("We'll hold on to your CV in our talent pool.", 12, True),
    ("We will retain your application for two years.", 12, True),
    ("We will keep your details for 6 months in case a similar role opens.", 12, False),
    ("We will keep your details for 18 months.", 12, True),
    ("We kept your details only for this process and will delete them within six months.",
     6, False),
    ("We would be glad to hear from you again when another opening suits you.", 12, False),
    ("We will keep your resume on file.", None, False),  # no setting to contradict
])
def test_retention_promises_are_checked_against_the_setting(sentence: str, retention: int | None,
                                                           flagged: bool) -> None:
    """A promise to keep data longer than the retention period is an error."""
    found = [f for f in check_text(sentence, retention_months=retention)
             if f.check == "retention-promise"]
    assert bool(found) is flagged
    if found:
        assert found[0].severity == "error"
        assert f"{retention} months" in found[0].message


def test_unfilled_fields_and_placeholders_are_errors() -> None:
    """A ⟦field⟧ left by preview rendering, or a hand-made placeholder, blocks approval."""
    text = "Dear \u27e6candidate.first_name\u27e7,\n\nThank you, [Candidate Name]."
    found = check_text(text)
    assert [(f.check, text[f.start:f.end]) for f in found] == [
        ("unfilled-field", "\u27e6candidate.first_name\u27e7"),
        ("placeholder", "[Candidate Name]")]
    assert checks.has_errors(found)
    assert not checks.has_errors(check_text("Dear Ana,\n\nThank you."))


def test_json_output_carries_id_severity_span_and_message() -> None:
    """The JSON shape the CLI prints."""
    data = json.loads(checks.findings_to_json(check_text("You are overqualified.")))
    assert data == [{"id": "challenge-phrase", "severity": "warning", "start": 8, "end": 21,
                     "message": data[0]["message"], "category": "challenge_phrase"}]
    assert "overqualified" in data[0]["message"]


# -- batch checks ------------------------------------------------------------------------

NOTES = [
    "Your work rebuilding the shift roster at a distribution centre cut overtime by a fifth.",
    "The way you described calming a room of stranded travellers stayed with the panel.",
    "Your certificate in supply-chain management and the food bank dashboard stood out.",
    "Five years of customs brokerage paperwork is directly relevant experience for us.",
    "Your experience coordinating film-set transport under tight schedules is impressive.",
    "Leading the safety committee at your current employer shows the initiative we value.",
]


def batch(notes: list[tuple[str, str]], **facts) -> dict:  # noqa: ANN003
    letters = [LetterUnderCheck(key=i, text=LETTER.format(first=name.split()[0], note=note),
                                note=note, candidate_names=tuple(name.split()))
               for i, (name, note) in enumerate(notes)]
    return check_batch(letters, BatchFacts(**facts))


def checks_of(found: list) -> list[str]:
    return [f.check for f in found]


def test_empty_short_and_long_notes() -> None:
    """Empty, too short and very long notes are warnings; a good note is not."""
    long_note = " ".join(["Your logistics work was thorough and well documented."] * 25)
    found = batch([("Ana Silva", ""), ("Bo Li", "Great application!"),
                   ("Cy Young", long_note), ("Di Park", NOTES[0])])
    assert checks_of(found[0]) == ["empty-note"]
    assert found[0][0].start is None
    assert checks_of(found[1]) == ["short-note"]
    assert checks_of(found[2]) == ["long-note"]
    assert found[3] == []


def test_short_note_span_points_at_the_note_in_the_letter() -> None:
    """The span is where the note sits in the rendered letter."""
    found = batch([("Bo Li", "Great application!")])
    letter = LETTER.format(first="Bo", note="Great application!")
    assert letter[found[0][0].start:found[0][0].end] == "Great application!"


def test_duplicate_notes_name_how_many_others_even_when_only_names_differ() -> None:
    """Seven candidates with one note (with their own names in it) are each told of 6 others."""
    people = ["Ana Silva", "Bo Li", "Cy Ng", "Di Park", "Ed Ruiz", "Flo Chan", "Gus Moreau"]
    notes = [(p, f"Thank you {p.split()[0]}, your logistics background was impressive and "
                 "relevant.") for p in people]
    found = batch(notes + [("Hal Kim", NOTES[0])])
    for i in range(7):
        assert checks_of(found[i]) == ["duplicate-note"]
        assert "also used for 6 others" in found[i][0].message
    assert found[7] == []


def test_near_identical_notes_are_duplicates_but_different_notes_are_not() -> None:
    """A word changed here and there is still the same note; six distinct notes are fine."""
    found = batch([
        ("Ana Silva", "Your years of warehouse experience and your calm manner came through "
                      "clearly in your application."),
        ("Bo Li", "Your years of warehouse experience and your calm approach came through "
                  "clearly in your application."),
    ] + [(f"P{i} Q", note) for i, note in enumerate(NOTES)])
    assert "also used for 1 other " in found[0][0].message
    assert checks_of(found[1]) == ["duplicate-note"]
    assert all(found[i] == [] for i in range(2, 8))


def test_the_hire_named_in_someone_elses_letter_is_an_error() -> None:
    """The hire's full name, surname or email in another letter blocks approval."""
    facts = {"hire_names": ("Maya Chen",), "hire_email": "maya.chen@example.com"}
    found = batch([("Ana Silva", "Like Maya Chen, you know ramp operations well."),
                   ("Bo Li", "Ms Chen's airline background decided it, not yours."),
                   ("Cy Ng", "Write to maya.chen@example.com with questions."),
                   ("Di Park", NOTES[0])], **facts)
    assert [f.severity for f in found[0] if f.check == "hire-named"] == ["error"]
    assert "hire-named" in checks_of(found[1])
    assert any(f.check == "hire-named" and f.severity == "error" for f in found[2])
    assert found[3] == []


def test_a_candidate_sharing_the_hires_first_name_is_not_flagged() -> None:
    """Maya Ortiz's own letter may say 'Maya' when Maya Chen was hired."""
    found = batch([("Maya Ortiz", NOTES[0])], hire_names=("Maya Chen",))
    assert found[0] == []


def test_a_colder_letter_stands_out_against_the_batch_median() -> None:
    """A personal paragraph far shorter than the others is a warning."""
    found = batch([(f"P{i} Q", note) for i, note in enumerate(NOTES)]
                  + [("Zed Ray", "Your bookkeeping skills were really good.")])
    assert checks_of(found[6]) == ["colder-letter"]
    assert "reads colder" in found[6][0].message


def test_risky_words_in_a_note_are_found_at_their_place_in_the_letter() -> None:
    """Spans refer to the whole letter, not to the note alone."""
    note = "You were overqualified, and we wanted a younger team."
    text = LETTER.format(first="Ana", note=note)
    found = batch([("Ana Silva", note)])[0]
    marked = [text[f.start:f.end] for f in found]
    assert len(marked) == 2
    assert "overqualified" in marked[0] and "younger team" in marked[1]


def test_differentiator_checks() -> None:
    """Job-related is fine; personal, naming or negative is flagged."""
    facts = BatchFacts(hire_names=("Maya Chen",))
    assert checks.check_differentiator("hands-on aviation experience", facts) == []
    personal = checks.check_differentiator("a Catholic upbringing", facts)
    assert [f.check for f in personal] == ["differentiator-personal"]
    assert personal[0].severity == "error"
    named = checks.check_differentiator("Maya Chen's airside experience", facts)
    assert named[0].check == "differentiator-names-hire" and named[0].severity == "error"
    assert [f.check for f in checks.check_differentiator("Mr. Osei's ramp experience",
                                                         facts)] == ["differentiator-names-person"]
    negative = checks.check_differentiator("the airside experience you lacked", facts)
    assert [f.check for f in negative] == ["negative-comparison"]
    assert [f.check for f in checks.check_differentiator("", facts)] == ["differentiator-missing"]


def test_word_lists_are_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new term in a language file is matched with no code change; other languages fall back."""
    (tmp_path / "en.toml").write_text(
        'language = "en"\n[categories.age]\nlabel = "age"\nseverity = "error"\n'
        'explanation = "Age."\nterms = ["spring chicken*"]\nallow = []\n')
    monkeypatch.setattr(wordlists, "CHECKS_DIR", tmp_path)  # where word_lists reads it
    checks.word_lists.cache_clear()
    checks._paragraph.cache_clear()
    try:
        assert spans("You are no spring chickens.") == ["spring chickens"]
        assert checks.word_lists("xx").language == "en"
    finally:
        checks.word_lists.cache_clear()
        checks._paragraph.cache_clear()


def test_vancouver_batch_flags_exactly_the_two_empty_notes() -> None:
    """The demo's real notes raise nothing except its two empty notes."""
    from recruiter.services.importing import parse_candidates

    csv = Path(__file__).resolve().parent.parent / "recruiter" / "demo" / "vancouver.csv"
    rows = [r for r in parse_candidates(csv.read_bytes()).rows if r.outcome != "hired"]
    found = batch([(r.full_name, r.note) for r in rows], hire_names=("Maya Chen",),
                  retention_months=12)
    flagged = {rows[k].full_name: checks_of(v) for k, v in found.items() if v}
    assert flagged == {"Fatima Haddad": ["empty-note"], "Ananya Iyer": ["empty-note"]}


def test_cli_checks_any_text_as_json(tmp_path: Path, runner) -> None:  # noqa: ANN001
    """`letters check --text FILE --json` prints findings and exits 1 on an error."""
    risky = tmp_path / "risky.txt"
    risky.write_text("Dear Ana,\n\nWe wanted someone younger.\n")
    result = runner.invoke(args=["letters", "check", "--text", str(risky), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data[0]["id"] == "protected-characteristic"
    assert risky.read_text()[data[0]["start"]:data[0]["end"]] == "younger"
    fine = tmp_path / "fine.txt"
    fine.write_text("Dear Ana,\n\nYou are overqualified.\n")
    result = runner.invoke(args=["letters", "check", "--text", str(fine)])
    assert result.exit_code == 0
    assert "challenge-phrase" in result.output and "0 errors, 1 warnings" in result.output
