"""Checks on any text: risky wording, retention promises and unfilled fields, per paragraph."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from .findings import Finding
from .wordlists import WordLists, _Category, _lowered, primary_language, word_lists

# The ⟦field⟧ mark that preview rendering leaves for an unfilled merge field, and the
# placeholders people leave behind when they copy a letter by hand.
UNFILLED_FIELD_RE = re.compile(r"\u27e6([^\u27e7]{0,80})\u27e7")
# In every language: a bracketed field name ("[Candidate Name]", "[NOM]", "[Prénom]",
# "[Nombre]", "[Name einfügen]", "<Nom>", "{{ name }}"), X runs, TBD-style notes, "à
# compléter", "por completar", "zu ergänzen", blanks of underscores and "Frau XY". A bracket
# counts only when a placeholder word is in it and it is no Markdown link, so "[sic]",
# "[1]" or "<3" are not flagged.
_FIELD_WORDS = (
    r"name|names|first|last|full|surname|candidate|applicant|company|position|role|job|title|"
    r"date|insert|recipient|"
    r"nom|noms|pr[ée]nom|pr[ée]noms|candidat|candidate|entreprise|soci[ée]t[ée]|poste|"
    r"r[ôo]le|titre|ins[ée]rer|destinataire|"
    r"nombre|nombres|apellidos?|candidat[oa]|empresa|puesto|cargo|fecha|insertar|"
    r"vorname|nachname|kandidat(?:in)?|bewerber(?:in)?|firma|unternehmen|stelle|"
    r"titel|datum|einf[üu]gen|anrede"
)
PLACEHOLDER_RE = re.compile(
    r"\[\s*(?:[^\[\]\n]{0,30}?[\s_/-])?(?:" + _FIELD_WORDS
    + r")(?:[\s_/-][^\[\]\n]{0,30}?)?\s*\](?!\()"
    r"|<\s*(?:[^<>\n]{0,30}?[\s_/-])?(?:" + _FIELD_WORDS + r")(?:[\s_/-][^<>\n]{0,30}?)?\s*>"
    r"|\{\{[^}]{0,80}\}\}|\bX{3,}\b|\b(?:TBD|TBC|TBA|(?-i:TODO)|N\.\s?N\.)(?!\w)"
    r"|\b[àa] (?:compl[ée]ter|d[ée]finir|pr[ée]ciser|remplir)\b"
    r"|\bpor (?:completar|definir|rellenar|determinar)\b"
    r"|\bzu (?:erg[äa]nzen|bestimmen|definieren)\b|\b(?:Herr|Frau) (?-i:XY|X|NN)\b|_{3,}",
    re.IGNORECASE)

_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_SENTENCE_RE = re.compile(r"[^.!?\n]+(?:[.!?]+|$)")
_GREETING_RE = re.compile(r"^\s*(?:dear|hi|hello)\s+([^\W\d_]+)", re.IGNORECASE | re.MULTILINE)
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "eighteen": 18,
                 "twenty-four": 24, "thirty-six": 36, "a": 1, "an": 1,
                 # French, Spanish and German: "six mois", "dos años", "zwei Jahre"
                 "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "sept": 7,
                 "huit": 8, "neuf": 9, "dix": 10, "douze": 12, "dix-huit": 18,
                 "vingt-quatre": 24, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4,
                 "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10,
                 "doce": 12, "dieciocho": 18, "veinticuatro": 24, "ein": 1, "eine": 1,
                 "einen": 1, "einem": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6,
                 "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "zwölf": 12, "achtzehn": 18,
                 "vierundzwanzig": 24}
_YEAR_UNITS = ("year", "years", "an", "ans", "année", "années", "año", "años", "jahr", "jahre",
               "jahren", "jahres")
_DURATION_RE = re.compile(
    r"\b(\d{1,3}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) +
    r")[\s-]+(months?|mois|mes|meses|monate?n?|monats|" + "|".join(_YEAR_UNITS) + r")(?!\w)",
    re.IGNORECASE)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _wording(text: str, lists: WordLists, original: str) -> list[Finding]:
    """Risky words and phrases in lower-cased ``text``, except inside innocent phrases."""
    found: list[tuple[int, int, _Category]] = []
    for category in lists.categories:
        if category.terms is None:
            continue
        allowed: list[tuple[int, int]] | None = None
        for match in category.terms.finditer(text):
            start, end = match.span()
            if allowed is None:  # most paragraphs match nothing: look for allowances lazily
                allowed = ([m.span() for m in category.allow.finditer(text)]
                           if category.allow is not None else [])
            if any(a <= start and end <= b for a, b in allowed):
                continue
            found.append((start, end, category))
    # Where matches overlap, the longest (then the earlier category) is the one reported.
    found.sort(key=lambda item: (-(item[1] - item[0]), item[2].rank))
    kept: list[tuple[int, int, _Category]] = []
    for start, end, category in found:
        if all(end <= s or start >= e for s, e, _ in kept):
            kept.append((start, end, category))
    kept.sort(key=lambda item: item[0])
    return [Finding(c.check, c.severity, f"“{original[s:e]}”: {c.explanation}", s, e, c.name)
            for s, e, c in kept]


def _months(sentence: str) -> int | None:
    """The longest duration a sentence names, in months."""
    longest = None
    for number, unit in _DURATION_RE.findall(sentence):
        n = int(number) if number.isdigit() else _NUMBER_WORDS[number.lower()]
        months = n * 12 if unit.lower() in _YEAR_UNITS else n
        longest = max(longest or 0, months)
    return longest


def _retention(text: str, lists: WordLists, retention_months: int | None) -> list[Finding]:
    """Promises to keep the candidate's data that the retention setting contradicts."""
    rules = lists.retention
    if rules is None or retention_months is None:
        return []
    found: list[Finding] = []
    if rules.promises.search(text) is None:  # the usual case: one search per paragraph
        return found
    for sentence in _SENTENCE_RE.finditer(text):
        words = sentence.group()
        promise = rules.promises.search(words)
        if promise is None or rules.deletion.search(words):
            continue
        months = _months(words)
        if months is not None and months <= retention_months:
            continue
        start = sentence.start() + promise.start()
        found.append(Finding(rules.check, rules.severity,
                             rules.explanation.format(months=retention_months), start,
                             sentence.start() + promise.end(), "retention_promise"))
    return found


def _unfilled(text: str) -> list[Finding]:
    found = [Finding("unfilled-field", "error",
                     f"The merge field “{m.group(1)}” has no value for this letter. Fill it "
                     "in, or change the boilerplate.", m.start(), m.end(), "unfilled")
             for m in UNFILLED_FIELD_RE.finditer(text)]
    found += [Finding("placeholder", "error",
                      f"“{m.group()}” looks like a placeholder that was never filled in.",
                      m.start(), m.end(), "unfilled")
              for m in PLACEHOLDER_RE.finditer(text)]
    return found


@lru_cache(maxsize=8192)
def _paragraph(paragraph: str, language: str, retention_months: int | None
               ) -> tuple[Finding, ...]:
    # Cached: the boilerplate's paragraphs repeat in every letter of a batch.
    lists, lowered = word_lists(language), _lowered(paragraph)
    return tuple(_wording(lowered, lists, paragraph)
                 + _retention(lowered, lists, retention_months) + _unfilled(paragraph))


def _paragraphs(text: str) -> Iterable[tuple[int, str]]:
    start = 0
    for match in re.finditer(r"\n\s*\n", text):
        yield start, text[start:match.start()]
        start = match.end()
    yield start, text[start:]


_NAMELESS = frozenset({"retention-promise", "unfilled-field", "placeholder"})


def _ignored(text: str, names: Iterable[str]) -> frozenset[str]:
    """Names never reported as risky words: the candidate's, and whoever the greeting names."""
    parts = {_fold(p) for name in names for p in _WORD_RE.findall(name or "")}
    parts |= {_fold(m.group(1)) for m in _GREETING_RE.finditer(text)}
    return frozenset(parts)


def check_text(text: str, *, language: str = "en", ignore_names: Iterable[str] = (),
               retention_months: int | None = None) -> list[Finding]:
    """Risky wording, retention promises and unfilled fields in any text.

    ``language`` is a language tag; its primary subtag picks the word list
    (``letters/checks/fr.toml`` for "fr-CA"), and an unknown language falls back to English.
    """
    ignore = _ignored(text, ignore_names)
    primary = primary_language(language)  # the paragraph cache keys on it: "fr-CA" is "fr"
    found: list[Finding] = []
    for offset, paragraph in _paragraphs(text):
        if paragraph.strip():
            found += [f.shifted(offset) for f in _paragraph(paragraph, primary,
                                                            retention_months)
                      if f.check in _NAMELESS or _fold(paragraph[f.start:f.end]) not in ignore]
    return found
