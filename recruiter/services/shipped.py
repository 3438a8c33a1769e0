"""The boilerplates recruiter ships in ``letters/<name>/``, and boilerplates read from files.

``letters/<name>/<lang>/subject.txt`` and ``body.md`` for each shipped language, and
``meta.toml`` with its title, description, stages and ``[titles]`` per language.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..errors import RecruiterError, TemplateError
from ..paths import LETTERS_DIR
from .languages import primary
from .rendering import Boilerplate as Source
from .template_checks import validate_template

DEFAULT_SUBJECT = "Your application for {{ position.title }} at {{ organization.name }}"


@dataclass(frozen=True)
class Shipped:
    """A boilerplate shipped in ``letters/<name>/``: a subject and body per language.

    ``letters/<name>/<lang>/subject.txt`` and ``body.md`` for each shipped language, and
    ``meta.toml`` with its title, description, stages and ``[titles]`` per language. A folder
    still in the old layout (subject.txt and body.md beside meta.toml) is English only.
    """

    name: str
    title: str
    description: str
    subject: str  # the English text (the first language when there is no English)
    body: str
    stages: tuple[str, ...] = ()
    texts: tuple[tuple[str, str, str], ...] = ()  # (language, subject, body)
    titles: tuple[tuple[str, str], ...] = ()  # (language, title)

    @property
    def source(self) -> Source:
        """The English subject and body, ready to render."""
        return Source(subject=self.subject, body=self.body)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages it is shipped in."""
        return tuple(language for language, _, _ in self.texts) or ("en",)

    def source_in(self, language: str | None) -> Source | None:
        """The subject and body in ``language`` (by primary subtag), or None."""
        for code, subject, body in self.texts:
            if code == primary(language):
                return Source(subject=subject, body=body)
        return None

    def title_in(self, language: str | None) -> str:
        """The title in ``language``, else the English one."""
        return dict(self.titles).get(primary(language), self.title)


def _shipped(folder: Path) -> Shipped:
    meta = tomllib.loads((folder / "meta.toml").read_text(encoding="utf-8"))
    texts = []
    for path in sorted(folder.glob("*/body.md")):
        language = primary(path.parent.name)
        if language and language == path.parent.name:
            subject = (path.parent / "subject.txt").read_text(encoding="utf-8")
            texts.append((language, re.sub(r"[ \t\r\n]+", " ", subject).strip(),
                          path.read_text(encoding="utf-8")))
    if not texts:  # the old layout: one English letter beside meta.toml
        texts.append(("en", (folder / "subject.txt").read_text(encoding="utf-8").strip(),
                      (folder / "body.md").read_text(encoding="utf-8")))
    texts.sort(key=lambda text: (text[0] != "en", text[0]))
    titles = {primary(k): str(v) for k, v in (meta.get("titles") or {}).items()}
    return Shipped(name=folder.name, title=titles.get("en", meta["title"]),
                   description=meta.get("description", ""), subject=texts[0][1],
                   body=texts[0][2], stages=tuple(meta.get("stages", ())), texts=tuple(texts),
                   titles=tuple(sorted(titles.items())))


def shipped_boilerplates(letters_dir: Path | None = None) -> dict[str, Shipped]:
    """Every boilerplate folder under ``letters/`` (or ``letters_dir``), by name."""
    return _load_shipped(letters_dir or LETTERS_DIR)


@cache
def _load_shipped(letters_dir: Path) -> dict[str, Shipped]:
    return {meta_path.parent.name: _shipped(meta_path.parent)
            for meta_path in sorted(letters_dir.glob("*/meta.toml"))}


def shipped_for_stage(stage: str) -> Shipped:
    """The shipped boilerplate that suits a candidate's stage."""
    shipped = shipped_boilerplates()
    for item in shipped.values():
        if stage in item.stages:
            return item
    return shipped["not-interviewed"]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecruiterError(f"{path}: no such file.") from None
    except UnicodeDecodeError as exc:
        raise RecruiterError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8.") \
            from None
    except OSError as exc:
        raise RecruiterError(f"{path}: cannot be read ({exc.strerror or exc}).") from None


def load_template(spec: str) -> tuple[str, Source]:
    """A boilerplate by shipped name, folder (body.md, subject.txt) or body file, checked.

    Returns its display name and source; refuses, naming the file, whatever could not be
    saved in the editor either.
    """
    shipped = shipped_boilerplates()
    if spec in shipped and not Path(spec).exists():
        return spec, shipped[spec].source
    path = Path(spec).expanduser()
    if path.is_dir() and not (path / "body.md").exists() and (path / "meta.toml").exists():
        return path.name, _shipped(path).source  # a folder laid out as the shipped ones
    if path.is_dir():
        body_path, subject_path = path / "body.md", path / "subject.txt"
        body = _read(body_path)
        subject = _read(subject_path) if subject_path.exists() else DEFAULT_SUBJECT
        if (path / "meta.toml").exists():
            try:
                tomllib.loads(_read(path / "meta.toml"))
            except tomllib.TOMLDecodeError as exc:
                raise RecruiterError(f"{path / 'meta.toml'}: {exc}.") from None
        name = path.name
    elif path.exists():
        body_path, subject_path, subject = path, None, DEFAULT_SUBJECT
        body = _read(path)
        name = path.name
    else:
        names = ", ".join(sorted(shipped))
        raise RecruiterError(f"{spec}: no such boilerplate file or folder, and no shipped "
                             f"boilerplate of that name (shipped: {names}).")
    source = Source(subject=" ".join(subject.split()), body=body.replace("\r\n", "\n"))
    try:
        validate_template(Source(subject=source.subject, body=""),
                          str(subject_path or "the default subject"))
        validate_template(Source(subject="", body=source.body), str(body_path))
    except TemplateError as exc:
        raise TemplateError(str(exc), lineno=exc.lineno) from None
    return name, source
