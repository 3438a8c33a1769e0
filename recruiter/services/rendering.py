"""Render a boilerplate into one letter: a pure function of template source and context.

Boilerplates are written by users, so they run in Jinja's immutable sandbox with an
allow-list of filters and the limits of ``sandbox.py`` (operators refused before they build
too much, a loop budget, output size and render time); drafts render in a limited worker
process on top of that (``render_untrusted``). Candidate text (names, notes, the
differentiator) only ever arrives as values, never as template source; values are
Markdown-escaped on the way into the HTML part so a note can never become markup.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from typing import Any

import nh3
from babel.dates import format_date
from jinja2 import (
    ChainableUndefined,
    StrictUndefined,
    TemplateSyntaxError,
    UndefinedError,
    nodes,
)
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.sandbox import SecurityError
from markdown_it import MarkdownIt

from ..errors import TemplateError
from .empty_fields import Empty, default_filter, keeps_empty, mark_empty
from .sandbox import (
    MAX_OUTPUT,
    MAX_SECONDS,
    Budget,
    LimitedSandbox,
    capped_replace,
    check_output,
    limited_join,
    safe_range,
)
from .workers import run_limited

MISSING_MARK = "\u27e6{}\u27e7"  # ⟦name⟧, found again by checks.UNFILLED_FIELD_RE

ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "ul", "ol", "li", "a", "h2", "h3",
                "blockquote", "hr", "span"}


@dataclass(frozen=True)
class CandidateFields:
    """The candidate as a letter may see them."""

    first_name: str = ""
    last_name: str = ""
    full_name: str = ""
    email: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    stage: str = "applied"
    salutation: str = ""  # the greeting name: the salutation, else the first, else full name

    @classmethod
    def of(cls, person: Any, stage: str) -> CandidateFields:
        """The fields of a stored candidate or an imported CSV row (both have these names)."""
        return cls(first_name=person.first_name, last_name=person.last_name,
                   full_name=person.full_name, email=person.email or "",
                   address_line1=person.address_line1, address_line2=person.address_line2,
                   city=person.city, region=person.region, postal_code=person.postal_code,
                   country=person.country, stage=stage,
                   salutation=(getattr(person, "salutation", "") or person.first_name
                               or person.full_name))


@dataclass(frozen=True)
class LetterContext:
    """Everything a boilerplate may use, as plain values only."""

    candidate: CandidateFields
    note: str
    differentiator: str
    position_title: str
    position_location: str
    organization_name: str
    sender_name: str
    sender_title: str = ""
    applicant_count: int = 0
    interviewed_count: int = 0
    today: date | None = None
    locale: str = "en"

    def as_template_dict(self) -> dict[str, Any]:
        """The dict a boilerplate renders from: nested plain dicts, strings and ints."""
        candidate = self.candidate
        fields = {name: getattr(candidate, name) for name in _CANDIDATE_FIELDS}
        if "salutation" in fields:  # built by hand rather than by ``of``: the same fallback
            fields["salutation"] = (fields["salutation"] or candidate.first_name
                                    or candidate.full_name)
        return {
            "candidate": fields,
            "note": self.note.strip(),
            "differentiator": self.differentiator.strip(),
            "position": {"title": self.position_title, "location": self.position_location},
            "organization": {"name": self.organization_name},
            "sender": {"name": self.sender_name, "title": self.sender_title},
            "applicant_count": self.applicant_count,
            "interviewed_count": self.interviewed_count,
            "date": letter_date(self.locale, self.today),
        }


_CANDIDATE_FIELDS = tuple(field.name for field in dataclasses.fields(CandidateFields))


def letter_date(locale: str, today: date | None = None) -> str:
    """Today's date as a letter in ``locale`` writes it."""
    return _long_date(today or date.today(), locale or "en")


@lru_cache(maxsize=64)
def _long_date(day: date, locale: str) -> str:
    # Babel looks the locale's pattern up again on every call; a batch has one date.
    return format_date(day, format="long", locale=locale)


# Documented merge fields, for the editor's picker and "unknown field" checks.
MERGE_FIELDS = (
    "candidate.first_name", "candidate.last_name", "candidate.full_name", "candidate.email",
    "candidate.city", "candidate.country", "candidate.stage", "note", "differentiator",
    "position.title", "position.location", "organization.name", "sender.name",
    "sender.title", "applicant_count", "interviewed_count", "date",
)


@dataclass(frozen=True)
class Rendered:
    """One rendered letter: subject, plain text, sanitised HTML, and which fields were empty."""

    subject: str
    text: str
    html: str
    missing: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        """SHA-256 over subject, text and HTML: changes whenever the letter would."""
        digest = hashlib.sha256()
        for part in (self.subject, self.text, self.html):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()


class _PreviewUndefined(ChainableUndefined):
    """Renders a missing field as a visible ⟦marker⟧ instead of failing."""

    def __str__(self) -> str:
        if self._undefined_exception is SecurityError:  # never soften a sandbox refusal
            self._fail_with_undefined_error()
        if (self._undefined_name or "").startswith("_"):  # no merge field looks like this
            raise SecurityError(f"{self._undefined_name!r} is not a merge field")
        return MISSING_MARK.format(self._undefined_name or "?")

    __html__ = __str__

    def __getattr__(self, name: str) -> _PreviewUndefined:
        if name.startswith("_"):
            raise SecurityError(f"{name!r} is not a merge field")
        return self

    __getitem__ = __getattr__


def _finalize(preview: bool, md: bool):  # noqa: ANN202
    def finalize(value: Any) -> Any:
        if type(value) is Empty:
            if not preview:
                raise UndefinedError(f"{value.field} is empty for this candidate")
            return MISSING_MARK.format(value.field)
        check_output(value)
        return _md_escape(value) if md else value
    return finalize


_MD_SPECIAL = {ord(c): "\\" + c for c in "\\`*_{}[]()<>#+-.!|~&"}


def _md_escape(value: Any) -> Any:
    """Escape Markdown syntax in a value so candidate text stays literal text."""
    if isinstance(value, str):
        return value.translate(_MD_SPECIAL)
    return value


_FILTERS = ("upper", "lower", "title", "capitalize", "trim", "default", "d", "join", "length",
            "count", "first", "last", "round", "int", "string", "truncate", "wordcount", "abs",
            "list", "sort", "unique", "reverse")


@cache
def _environment(mode: str) -> LimitedSandbox:
    """One sandbox per mode ("send", "preview") and value escaping ("md", "text")."""
    preview, md = mode.split("-")
    env = LimitedSandbox(
        undefined=_PreviewUndefined if preview == "preview" else StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize(preview == "preview", md == "md"),
    )
    env.filters = {name: env.filters[name] for name in _FILTERS}
    env.filters["replace"] = capped_replace
    env.filters["join"] = limited_join(env.filters["join"])
    for name in ("upper", "lower", "title", "capitalize", "trim", "string", "truncate",
                 "replace"):
        env.filters[name] = keeps_empty(env.filters[name])
    env.filters["default"] = env.filters["d"] = default_filter
    env.tests = {name: env.tests[name] for name in ("defined", "undefined", "none", "number",
                                                     "string", "even", "odd", "eq", "ne")}
    env.globals = {"range": safe_range}
    return env


@cache
def _md() -> MarkdownIt:
    # html=False: raw HTML anywhere in the source is shown as text, never passed through.
    return MarkdownIt("commonmark",
                      {"html": False, "linkify": False, "typographer": False, "breaks": True})


@dataclass(frozen=True)
class Boilerplate:
    """A boilerplate's subject and body, compiled once per batch."""

    subject: str
    body: str


@lru_cache(maxsize=256)  # bounded: every edit of a boilerplate in the editor is a new source
def _compile(mode: str, source: str, name: str):  # noqa: ANN202
    try:
        return _environment(mode).from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{name}, line {exc.lineno}: {exc.message}", lineno=exc.lineno)\
            from exc


def check_template(boilerplate: Boilerplate) -> list[str]:
    """Return the fields a boilerplate uses that no letter provides (empty when all known)."""
    env = _environment("send-text")
    known_roots = {f.split(".")[0] for f in MERGE_FIELDS} | {"range", "loop"}
    unknown: list[str] = []
    for name, source in (("Subject", boilerplate.subject), ("Body", boilerplate.body)):
        try:
            tree = env.parse(source)
        except TemplateSyntaxError as exc:
            raise TemplateError(f"{name}, line {exc.lineno}: {exc.message}",
                                lineno=exc.lineno) from exc
        assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        for node in tree.find_all(nodes.Name):
            if node.ctx == "load" and node.name not in known_roots | assigned:
                unknown.append(node.name)
    return sorted(set(unknown))


def _render_one(template, values: Mapping[str, Any], budget: Budget) -> str:
    total = 0
    parts: list[str] = []
    with budget:  # the sandbox's operators and loops draw on it while this render runs
        for chunk in template.generate(values):
            total += len(chunk)
            budget.size(total)
            budget.tick()
            parts.append(chunk)
    return "".join(parts)


def _render_parts(boilerplate: Boilerplate, context: LetterContext, mode: str,
                  budget: Budget) -> tuple[str, str, str]:
    """Subject, plain text and Markdown source; every failure is one TemplateError."""
    values = mark_empty(context.as_template_dict())
    try:
        subject = _render_one(_compile(f"{mode}-text", boilerplate.subject, "Subject"), values,
                              budget)
        text = _render_one(_compile(f"{mode}-text", boilerplate.body, "Body"), values, budget)
        md_source = _render_one(_compile(f"{mode}-md", boilerplate.body, "Body"), values, budget)
    except UndefinedError as exc:
        raise TemplateError(f"A merge field is not filled: {exc.message}.") from exc
    except SecurityError as exc:
        reason = str(exc).rstrip(".")
        raise TemplateError(f"The template tried something letters may not do: {reason}.") \
            from exc
    except (JinjaTemplateError, TypeError, ValueError, ArithmeticError, LookupError,
            RecursionError) as exc:
        line = _error_line(exc)
        where = f" (line {line})" if line else ""
        raise TemplateError(f"The template could not be rendered{where}: {exc}.",
                            lineno=line) from exc
    subject = " ".join(subject.split())
    if "\r" in subject or "\n" in subject:
        raise TemplateError("The subject must be a single line.")
    return subject, text, md_source


def try_render(boilerplate: Boilerplate, context: LetterContext, *,
               max_output: int = MAX_OUTPUT, max_seconds: float = MAX_SECONDS) -> None:
    """Raise the TemplateError that rendering this letter in preview mode would raise.

    Skips Markdown and HTML cleaning, which cannot fail, so checking thousands is cheap.
    """
    _render_parts(boilerplate, context, "preview", Budget(max_output, max_seconds))


def render_letter(
    boilerplate: Boilerplate,
    context: LetterContext,
    *,
    preview: bool = False,
    max_output: int = MAX_OUTPUT,
    max_seconds: float = MAX_SECONDS,
) -> Rendered:
    """Render one letter; send mode refuses unfilled fields, preview marks them ⟦so⟧."""
    subject, text, md_source = _render_parts(boilerplate, context,
                                             "preview" if preview else "send",
                                             Budget(max_output, max_seconds))
    html = nh3.clean(_md().render(md_source), tags=ALLOWED_TAGS,
                     attributes={"a": {"href"}, "span": {"class"}},
                     url_schemes={"https", "mailto"})
    missing = tuple(sorted(set(re.findall(r"\u27e6([^\u27e7]+)\u27e7", subject + text))))
    return Rendered(subject=subject, text=_tidy(text), html=html, missing=missing)


# Untrusted templates (edited in the editor, not yet saved) also render in a process of their
# own, killed when it passes these: the last line of defence should an operation slip past the
# sandbox's checks. The CPU time covers the three renders of a letter and the HTML cleaning.
GUARD_CPU_SECONDS = 3
GUARD_MEMORY_BYTES = 256 * 1024 * 1024
GUARD_TIMEOUT = 8.0  # seconds of wall-clock time: generous for a loaded machine


def _guarded(call: Any, *args: Any, letters: int = 1) -> Any:
    """``call(*args)`` in a limited worker process, its TemplateError raised here."""
    extra = letters // 250  # a save tries every candidate: a few milliseconds each
    kind, value = run_limited(call, *args, cpu_seconds=GUARD_CPU_SECONDS + extra,
                              memory_bytes=GUARD_MEMORY_BYTES,
                              timeout=GUARD_TIMEOUT + 2 * extra)
    if kind == "time":
        raise TemplateError("This template takes too long to render and was stopped.")
    if kind == "memory":
        raise TemplateError("This template takes too much memory to render and was stopped.")
    if kind == "busy":
        raise TemplateError("Every preview worker is busy; try again in a moment.")
    if kind == "error":
        raise TemplateError(f"The template could not be rendered: {value}.")
    return value


def _render_or_error(boilerplate: Boilerplate, context: LetterContext) -> Any:
    try:
        return render_letter(boilerplate, context, preview=True)
    except TemplateError as exc:  # pickled with its line number, rebuilt by ``_guarded``
        return _Failure(str(exc), exc.lineno)


def _try_each(boilerplate: Boilerplate, contexts: list[LetterContext]) -> list[str | None]:
    failures: list[str | None] = []
    for context in contexts:
        try:
            try_render(boilerplate, context)
            failures.append(None)
        except TemplateError as exc:
            failures.append(str(exc))
    return failures


@dataclass(frozen=True)
class _Failure:
    message: str
    lineno: int | None


def render_untrusted(boilerplate: Boilerplate, context: LetterContext) -> Rendered:
    """``render_letter`` in preview mode, in a worker process with CPU and memory limits."""
    result = _guarded(_render_or_error, boilerplate, context)
    if isinstance(result, _Failure):
        raise TemplateError(result.message, lineno=result.lineno)
    return result


def try_render_each(boilerplate: Boilerplate,
                    contexts: list[LetterContext]) -> list[str | None]:
    """For each context, None or why the letter fails; all in one limited worker process."""
    return _guarded(_try_each, boilerplate, contexts, letters=len(contexts))


def _tidy(text: str) -> str:
    """Collapse the blank lines an omitted paragraph leaves behind."""
    # Not re.sub(r"[ \t]+\n"): that backtracks quadratically over a long run of spaces.
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _error_line(exc: Exception) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
