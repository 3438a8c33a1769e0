"""Render a boilerplate into one letter: a pure function of template source and context.

Boilerplates are written by users, so they run in Jinja's immutable sandbox with an
allow-list of filters and the limits of ``sandbox.py`` (operators refused before they build
too much, a loop budget, output size and render time); drafts render in a limited worker
process on top of that (``render_untrusted``). Candidate text (names, notes, the
differentiator) only ever arrives as values, never as template source; values are
Markdown-escaped on the way into the HTML part so a note can never become markup.

The values a letter renders from are in ``letter_context.py``; the sandboxes, their filters
and the preview's ⟦marks⟧ in ``template_env.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import nh3
from jinja2 import TemplateError as JinjaTemplateError
from jinja2 import TemplateSyntaxError, UndefinedError, nodes
from jinja2.sandbox import SecurityError
from markdown_it import MarkdownIt

from ..errors import TemplateError
from .empty_fields import mark_empty
from .letter_context import MERGE_FIELDS, CandidateFields, LetterContext, Rendered, letter_date
from .sandbox import MAX_OUTPUT, MAX_SECONDS, Budget
from .template_env import MISSING_MARK, NUMBER_LOCALE, _environment
from .workers import run_limited

# The letter's values and the ⟦mark⟧ are re-exported: callers import them from here.
__all__ = ["MERGE_FIELDS", "MISSING_MARK", "Boilerplate", "CandidateFields", "LetterContext",
           "Rendered", "check_template", "letter_date", "render_letter", "render_untrusted",
           "try_render", "try_render_each"]

_ASCII_SPACE_RE = re.compile(r"[ \t\n\r\f\v]+")
ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "ul", "ol", "li", "a", "h2", "h3",
                "blockquote", "hr", "span"}


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
    token = NUMBER_LOCALE.set(context.locale or "en")
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
    finally:
        NUMBER_LOCALE.reset(token)
    # ASCII whitespace only: a no-break space (French "?", "1 234") is part of the text.
    subject = _ASCII_SPACE_RE.sub(" ", subject).strip()
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
