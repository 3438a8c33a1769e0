"""Letter checks in French, Spanish and German: word lists, placeholders, the hire, batches."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from recruiter.services import checks
from recruiter.services.checks import BatchFacts, LetterUnderCheck, check_text

ROOT = Path(__file__).resolve().parent.parent


def found(text: str, language: str, **kwargs: object) -> list[tuple[str, str]]:
    """(category, the words pointed at) for every finding with a span."""
    return [(f.category, text[f.start:f.end]) for f in check_text(text, language=language,
                                                                   **kwargs)
            if f.start is not None]


@pytest.mark.parametrize(("language", "sentence", "category", "words"), [
    ("fr", "Compte tenu de votre âge, les horaires de nuit semblaient difficiles.", "age",
     "votre âge"),
    ("fr", "À l'âge de 58 ans, vous auriez été la doyenne.", "age", "âge"),
    ("fr", "Comme vous êtes enceinte, la date posait problème.", "pregnancy", "enceinte"),
    ("fr", "Vous êtes d'origine marocaine.", "national_origin", "d'origine marocaine"),
    ("fr", "Vous etes trop agee pour ce poste.", "age", "agee"),  # typed without accents
    ("fr", "Votre profil est surqualifié pour ce poste.", "challenge_phrase", "surqualifié"),
    ("fr", "Avec trois jeunes enfants, les astreintes seraient compliquées.", "family_status",
     "jeunes enfants"),
    ("es", "Al estar embarazada, la fecha de incorporación era complicada.", "pregnancy",
     "embarazada"),
    ("es", "Buscábamos a alguien más joven.", "age", "más joven"),
    ("es", "Su acento podría causar problemas por teléfono.", "national_origin", "Su acento"),
    ("es", "Siendo madre soltera, le habría costado viajar.", "family_status", "madre soltera"),
    ("es", "No hubo química en la segunda entrevista.", "challenge_phrase", "No hubo química"),
    ("de", "Aufgrund Ihres Alters hielten wir die Schichten für zu belastend.", "age",
     "Ihres Alters"),
    ("de", "Aufgrund Ihrer türkischen Herkunft hatten wir Bedenken.", "national_origin",
     "türkischen Herkunft"),
    ("de", "Ihre Schwerbehinderung hätte Anpassungen erfordert.", "disability_health",
     "Schwerbehinderung"),
    ("de", "Für diese Stelle sind Sie überqualifiziert.", "challenge_phrase",
     "überqualifiziert"),
    ("de", "Die ausgewählte Bewerberin war deutlich erfahrener als Sie.", "negative_comparison",
     "erfahrener als Sie"),
])
def test_risky_wording_is_found_in_each_language(language: str, sentence: str, category: str,
                                                 words: str) -> None:
    """The right category, pointing at the right words."""
    assert (category, words) in found(sentence, language)


@pytest.mark.parametrize(("language", "sentence"), [
    ("fr", "Nous sommes une jeune entreprise et cherchions une personne ayant géré une équipe."),
    ("fr", "Nous avons mis l'accent sur la gestion de projets internationaux."),
    ("fr", "Votre expérience à l'étranger, notamment au Chili, est précieuse."),
    ("fr", "Vous avez plus de 20 ans d'expérience en logistique."),
    ("fr", "Nous regrettons que votre candidature n'ait pas été retenue."),
    ("es", "Somos una empresa joven y necesitábamos experiencia en dirección de equipos."),
    ("es", "Su experiencia en el extranjero, sobre todo en Chile, es muy valiosa."),
    ("es", "Hizo la conciliación bancaria mensual de tres filiales sin errores."),
    ("de", "Sehr geehrte Frau Yilmaz, sehr geehrte Damen und Herren,"),
    ("de", "Wir sind ein junges Unternehmen und brauchten Führungserfahrung."),
    ("de", "Sie haben mit Ihrer Präsentation wichtige Akzente gesetzt."),
    ("de", "Das Unternehmen feiert in diesem Jahr sein 50-jähriges Bestehen."),
])
def test_near_misses_are_not_flagged(language: str, sentence: str) -> None:
    assert check_text(sentence, language=language) == []


def test_language_tags_use_the_primary_subtag_and_fall_back_to_english() -> None:
    assert checks.word_lists("fr-CA").language == "fr"
    assert checks.word_lists("es_MX").language == "es"
    assert checks.word_lists("DE").language == "de"
    assert checks.word_lists("xx").language == "en"
    assert checks.word_lists("../en").language == "en"
    # An unknown language is checked with the English list, a regional one with its own.
    assert ("age", "your age") in found("Given your age, we hesitated.", "pt-BR")
    assert ("pregnancy", "enceinte") in found("Vous êtes enceinte.", "fr-CA")
    # The English list does not know French words, and the paragraph cache keys on language.
    assert found("Vous êtes enceinte.", "en") == []
    assert found("Vous êtes enceinte.", "fr") != []


@pytest.mark.parametrize(("language", "text", "placeholder"), [
    ("fr", "Bonjour [NOM],", "[NOM]"),
    ("fr", "Cher [Prénom], merci.", "[Prénom]"),
    ("fr", "Madame <Nom>, merci.", "<Nom>"),
    ("fr", "Date de prise de poste : à compléter.", "à compléter"),
    ("es", "Estimado/a [Nombre]:", "[Nombre]"),
    ("es", "Fecha de incorporación: por completar.", "por completar"),
    ("de", "Liebe [Name einfügen], danke.", "[Name einfügen]"),
    ("de", "Sehr geehrte Frau XY,", "Frau XY"),
    ("de", "Eintrittsdatum: zu ergänzen.", "zu ergänzen"),
    ("en", "Your interview on XXX went well.", "XXX"),
    ("en", "Start date: TBD.", "TBD"),
])
def test_placeholders_in_every_language(language: str, text: str, placeholder: str) -> None:
    marked = [text[f.start:f.end] for f in check_text(text, language=language)
              if f.check == "placeholder"]
    assert marked == [placeholder]
    assert checks.has_errors(check_text(text, language=language))


@pytest.mark.parametrize("text", [
    "Les références [1] et [2] étaient pertinentes.",
    "Su análisis [ver anexo 2] era claro.",
    "Siehe [Anlage 2] und [sic].",
    "Read more on our [careers page](https://example.com/jobs) and [job board](https://x.y).",
    "Todo su trabajo fue excelente.",
    "x < y and y > z <3",
])
def test_innocent_brackets_are_not_placeholders(text: str) -> None:
    assert not [f for f in check_text(text, language="es") if f.check == "placeholder"]


@pytest.mark.parametrize(("language", "text", "category", "words"), [
    ("en", "a recent graduate with airside experience", "age", "recent graduate"),
    ("en", "a young mother who ran ramp operations", "age", "young mother"),
    ("en", "a native speaker of French", "national_origin", "native speaker"),
    ("en", "a local with ten years of ramp experience", "national_origin", "a local"),
    ("en", "fresh out of school with an A&P licence", "age", "fresh out of"),
    ("fr", "un jeune diplômé en logistique", "age", "jeune diplômé"),
    ("fr", "de langue maternelle anglaise", "national_origin", "de langue maternelle"),
    ("fr", "un local qui connaît le terrain", "national_origin", "un local"),
    ("es", "un recién graduado en logística", "age", "recién graduado"),
    ("es", "hablante nativo de inglés", "national_origin", "hablante nativo"),
    ("de", "ein Muttersprachler mit Lagererfahrung", "national_origin", "Muttersprachler"),
    ("de", "Berufsanfänger mit Staplerschein", "age", "Berufsanfänger"),
    ("de-AT", "eine junge Mutter mit Lagererfahrung", "age", "junge Mutter"),
])
def test_differentiator_hints_at_the_hires_characteristic(language: str, text: str,
                                                          category: str, words: str) -> None:
    """Point 5: the differentiator describes the hire as a person, not the experience."""
    found_ = checks.check_differentiator(text, BatchFacts(), language=language)
    assert [(f.check, f.severity, f.category, text[f.start:f.end]) for f in found_] == [
        ("differentiator-hire-characteristic", "error", category, words)]


@pytest.mark.parametrize(("language", "text"), [
    ("en", "hands-on aviation experience"),
    ("fr", "dix ans d'expérience en maintenance aéronautique"),
    ("es", "diez años de experiencia en mantenimiento de aeronaves"),
    ("de", "zehn Jahre Erfahrung in der Flugzeugwartung"),
])
def test_job_related_differentiators_pass_in_every_language(language: str, text: str) -> None:
    assert checks.check_differentiator(text, BatchFacts(), language=language) == []


def test_differentiator_language_defaults_to_the_facts() -> None:
    facts = BatchFacts(language="fr")
    assert [f.category for f in checks.check_differentiator("un jeune diplômé", facts)] == [
        "age"]
    assert checks.check_differentiator("un jeune diplômé", facts, language="en") == []


def test_language_reaches_check_batch() -> None:
    """Each letter's wording is checked in its own language."""
    note = "Vous êtes enceinte, et votre expérience en logistique est solide et variée."
    letters = [LetterUnderCheck(key=code, text=f"Bonjour Ana,\n\n{note}\n\nCordialement",
                                note=note, candidate_names=("Ana", "Ruiz"), language=code)
               for code in ("fr-FR", "en")]
    result = checks.check_batch(letters, BatchFacts())
    assert "pregnancy" in {f.category for f in result["fr-FR"]}
    assert "pregnancy" not in {f.category for f in result["en"]}
    assert LetterUnderCheck(key=1, text="", note="").language == "en"


def test_every_language_has_the_same_sections() -> None:
    english = checks.word_lists("en")
    names = [c.name for c in english.categories]
    for language in ("fr", "es", "de"):
        lists = checks.word_lists(language)
        assert lists.language == language
        assert [c.name for c in lists.categories] == names
        assert lists.retention is not None
        assert {c.name for c in lists.hire} >= {"age", "national_origin"}
        for category in lists.categories:  # shown in the English interface
            assert category.explanation == next(
                c.explanation for c in english.categories if c.name == category.name)


@pytest.mark.parametrize(("language", "text", "months"), [
    ("fr", "Nous conserverons votre CV dans notre vivier pour de futures opportunités.", None),
    ("es", "Conservaremos su currículum en nuestra base de datos para futuras oportunidades.",
     None),
    ("de", "Wir nehmen Ihre Unterlagen in unseren Talentpool auf.", None),
    ("fr", "Nous conserverons votre dossier six mois, puis nous le supprimerons.", 6),
    ("es", "Guardaremos su candidatura durante seis meses.", 6),
    ("de", "Wir bewahren Ihre Unterlagen sechs Monate auf.", 6),
])
def test_retention_promises_in_each_language(language: str, text: str,
                                             months: int | None) -> None:
    promises = [f for f in check_text(text, language=language, retention_months=6)
                if f.check == "retention-promise"]
    assert bool(promises) == (months is None)


@pytest.mark.parametrize("language", ["fr", "es", "de"])
def test_evaluation_sets_are_large_enough(language: str) -> None:
    with (ROOT / "bench" / f"checks_eval_{language}.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    risky = [r for r in rows if r["category"]]
    assert len(rows) >= 120 and len(risky) >= 40
    assert len({r["category"] for r in risky}) >= 12


def test_eval_checks_reports_one_language_on_its_evaluation_set(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/eval_checks.py: per language and set, a summary table; held-out sets untouched."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("eval_checks", ROOT / "bench" / "eval_checks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "eval_checks", module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    assert module.main(["--language", "de", "--set", "eval"]) == 0
    out = capsys.readouterr().out
    assert "== de eval (checks_eval_de.csv)" in out
    assert "| language | set | precision | recall | sentences (risky) |" in out
    assert "heldout" not in out
    assert module.SETS["en"]["heldout"][1].name == "checks_heldout_en2.csv"
