"""Checks a boilerplate must pass before it is saved, reading the template only.

It must compile, every merge field it uses must exist, and no placeholder typed by hand
(``[Candidate Name]``, ``<name>``, ``XXX``) may be left in its text.

These are static: they read the template, not a candidate. Rendering it for every candidate
who would receive it is ``boilerplates.trial_render``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache

from jinja2 import TemplateSyntaxError, nodes

from ..errors import TemplateError
from .checks import PLACEHOLDER_RE
from .rendering import Boilerplate as Source
from .rendering import CandidateFields, LetterContext, _environment

# Forms PLACEHOLDER_RE (which reads rendered letters) does not need to know: a bare <name>,
# a single-brace {first_name} or ${name}, and a %NAME% from older mail-merge tools.
_MORE_PLACEHOLDERS_RE = re.compile(
    r"<(?:name|surname|company|position|role|job|title|date|city)(?:[ _-]?(?:name|title))?>"
    r"|(?<!\{)\$?\{\s*[A-Za-z_][\w.]{0,40}(?:\s[\w.]{1,40}){0,2}\s*\}(?!\})"
    r"|%[A-Za-z][A-Za-z_]{1,40}%",
    re.IGNORECASE)
_BUILTIN_NAMES = frozenset({"range", "loop"})


@dataclass(frozen=True)
class Problem:
    """One reason a boilerplate is refused, with where it is."""

    part: str  # "Subject" or "Body"
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.part}, line {self.line}: {self.message}" if self.line else \
            f"{self.part}: {self.message}"


@cache
def _context_shape() -> dict[str, tuple[str, ...]]:
    """Each top-level name a letter provides, with the keys below it (empty for values)."""
    values = LetterContext(candidate=CandidateFields(), note="", differentiator="",
                           position_title="", position_location="", organization_name="",
                           sender_name="", today=date(2000, 1, 1)).as_template_dict()
    return {name: tuple(value) if isinstance(value, dict) else ()
            for name, value in values.items()}


def valid_fields() -> tuple[str, ...]:
    """Every merge field a boilerplate may use, dotted (``candidate.city``)."""
    return tuple(f"{root}.{key}" if key else root
                 for root, keys in _context_shape().items() for key in (keys or ("",)))


def _parse(part: str, text: str) -> nodes.Template:
    try:
        return _environment("send-text").parse(text)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{part}, line {exc.lineno}: {exc.message}",
                            lineno=exc.lineno) from exc


def _field_of(node: nodes.Getattr | nodes.Getitem) -> tuple[str, str] | None:
    """("candidate", "nickname") for candidate.nickname or candidate['nickname']."""
    if not isinstance(node.node, nodes.Name) or node.node.ctx != "load":
        return None
    if isinstance(node, nodes.Getattr):
        return node.node.name, node.attr
    if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.node.name, node.arg.value
    return None


def _unknown_fields(part: str, tree: nodes.Template) -> list[Problem]:
    shape = _context_shape()
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    problems: dict[str, Problem] = {}
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name not in shape.keys() | _BUILTIN_NAMES | assigned:
            problems.setdefault(node.name, Problem(
                part, node.lineno, f"unknown merge field \u201c{node.name}\u201d"))
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        field = _field_of(node)
        if field is None or field[0] in assigned or not shape.get(field[0]):
            continue  # a value's own attributes (note.upper) are the sandbox's business
        if field[1] not in shape[field[0]]:
            name = ".".join(field)
            problems.setdefault(name, Problem(
                part, node.lineno, f"unknown merge field \u201c{name}\u201d"))
    return list(problems.values())


def _placeholders(part: str, tree: nodes.Template) -> list[Problem]:
    problems = []
    for node in tree.find_all((nodes.TemplateData, nodes.Const)):
        text = node.data if isinstance(node, nodes.TemplateData) else node.value
        if not isinstance(text, str):
            continue
        for regex in (PLACEHOLDER_RE, _MORE_PLACEHOLDERS_RE):
            for match in regex.finditer(text):
                line = (node.lineno or 1) + text.count("\n", 0, match.start())
                problems.append(Problem(part, line, (
                    f"\u201c{match.group(0)}\u201d looks like a placeholder typed by hand "
                    "(use a merge field such as {{ candidate.first_name }})")))
    return problems


def template_problems(source: Source) -> list[Problem]:
    """Everything that makes a boilerplate unfit to save; empty when it may be saved.

    A syntax error raises :class:`TemplateError` instead, since nothing else can be read.
    """
    problems: list[Problem] = []
    for part, text in (("Subject", source.subject), ("Body", source.body)):
        tree = _parse(part, text)
        found = _unknown_fields(part, tree) + _placeholders(part, tree)
        problems += sorted(found, key=lambda p: p.line or 0)
    return problems


def refusal(problems: list[Problem], name: str = "") -> str:
    """One message for a refused boilerplate: every problem, then the valid fields."""
    head = f"{name}: " if name else ""
    message = head + "; ".join(str(p) for p in problems) + "."
    if any(p.message.startswith("unknown merge field") for p in problems):
        message += " Valid merge fields: " + ", ".join(valid_fields()) + "."
    return message


def validate_template(source: Source, name: str = "") -> None:
    """Raise :class:`TemplateError` naming every problem of a boilerplate, if it has any."""
    try:
        problems = template_problems(source)
    except TemplateError as exc:
        raise TemplateError(f"{name}: {exc}" if name else str(exc), lineno=exc.lineno) \
            from exc
    if problems:
        raise TemplateError(refusal(problems, name), lineno=problems[0].line)
