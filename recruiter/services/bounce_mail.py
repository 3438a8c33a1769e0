"""Where returned messages wait: a maildir, an mbox file, or an IMAP mailbox.

Each source hands out (key, bytes) and, once a message was applied to one of our letters,
puts it aside: in a maildir and over IMAP it is marked seen, or with ``move`` moved into the
``processed`` folder (Maildir++ ``.processed``; IMAP ``processed``, created when missing). An
mbox file is only read: other programs append to it, and rewriting it safely needs their
locks. Auto-replies and messages that are not ours stay as they were, for a person to read.
"""

from __future__ import annotations

import imaplib
import mailbox
import os
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import RecruiterError

PROCESSED = "processed"
PASSWORD_ENV = "RECRUITER_BOUNCES_IMAP_PASSWORD"


class Source:
    """Returned messages to read, and what to do with one that was applied."""

    name = ""

    def messages(self) -> Iterator[tuple[str, bytes]]:
        """Each message's key and raw bytes."""
        raise NotImplementedError

    def done(self, key: str, *, move: bool) -> None:
        """Put aside a message that was applied: marked seen, or moved to ``processed``."""

    def close(self) -> None:
        """Release the mailbox."""


class MaildirSource(Source):
    """A maildir (cur, new, tmp); read with plain file operations, renamed to mark or move."""

    name = "maildir"

    def __init__(self, path: Path) -> None:
        if not all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
            raise RecruiterError(f"{path} is not a maildir: it needs cur, new and tmp folders.")
        self.path = path
        self.files: dict[str, Path] = {}

    def messages(self) -> Iterator[tuple[str, bytes]]:  # noqa: D102
        # Listed before any is read: a message marked seen moves from new/ into cur/.
        files = [file for sub in ("new", "cur") for file in sorted((self.path / sub).iterdir())
                 if not file.name.startswith(".") and file.is_file()]
        for file in files:
            self.files[file.name] = file
            yield file.name, file.read_bytes()

    def done(self, key: str, *, move: bool) -> None:  # noqa: D102
        file = self.files[key]
        base, _, info = file.name.partition(":")
        flags = set(info[2:]) if info.startswith("2,") else set()
        name = f"{base}:2,{''.join(sorted(flags | {'S'}))}"
        target = self.path / (f".{PROCESSED}" if move else "") / "cur"
        if move:
            for sub in ("cur", "new", "tmp"):
                (self.path / f".{PROCESSED}" / sub).mkdir(parents=True, exist_ok=True)
        os.rename(file, target / name)


class MboxSource(Source):
    """An mbox file, read only."""

    name = "mbox"

    def __init__(self, path: Path) -> None:
        try:
            self.box = mailbox.mbox(path, create=False)
            self.keys = self.box.keys()
        except (OSError, mailbox.Error) as exc:
            raise RecruiterError(f"{path} could not be read as an mbox file: {exc}") from exc

    def messages(self) -> Iterator[tuple[str, bytes]]:  # noqa: D102
        for key in self.keys:
            yield str(key), self.box.get_bytes(key)

    def close(self) -> None:  # noqa: D102
        self.box.close()


def parse_imap_url(url: str) -> tuple[bool, str, int, str, str, str]:
    """(TLS, host, port, user, password, mailbox) of imaps://user:pass@host[:port]/MAILBOX."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
        raise RecruiterError("The IMAP address must look like imaps://user:password@host/INBOX "
                             "(imap:// without TLS); the password may come from "
                             f"{PASSWORD_ENV} instead.")
    tls = parts.scheme == "imaps"
    try:
        port = parts.port or (993 if tls else 143)
    except ValueError as exc:
        raise RecruiterError(f"The IMAP address has a bad port: {exc}.") from exc
    password = unquote(parts.password) if parts.password is not None else os.environ.get(
        PASSWORD_ENV, "")
    mailbox_name = unquote(parts.path.lstrip("/")) or "INBOX"
    return tls, parts.hostname, port, unquote(parts.username), password, mailbox_name


def _ok(reply: tuple[str, list], what: str) -> list:
    typ, data = reply
    if typ != "OK":
        said = b" ".join(x for x in data if isinstance(x, bytes)).decode("utf-8", "replace")
        raise RecruiterError(f"The IMAP server refused to {what}: {said or typ}.")
    return data


class ImapSource(Source):
    """An IMAP mailbox: messages read without marking them, then marked seen or moved."""

    name = "imap"

    def __init__(self, url: str, timeout: float = 60) -> None:
        tls, host, port, user, password, self.mailbox = parse_imap_url(url)
        where = f"{host}:{port}"
        try:
            self.conn = (imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(),
                                           timeout=timeout) if tls else
                         imaplib.IMAP4(host, port, timeout=timeout))
        except (OSError, imaplib.IMAP4.error) as exc:
            raise RecruiterError(f"Could not reach the IMAP server {where}: {exc}.") from exc
        try:
            self.conn.login(user, password)
        except imaplib.IMAP4.error as exc:
            self.close()
            raise RecruiterError(f"The IMAP server {where} refused the login of {user}: "
                                 f"{exc}.") from None
        typ, data = self.conn.select(_quoted(self.mailbox))
        if typ != "OK":
            self.close()
            raise RecruiterError(f"There is no mailbox {self.mailbox!r} on {where}.")
        self.moved = False

    def messages(self) -> Iterator[tuple[str, bytes]]:  # noqa: D102
        [numbers] = _ok(self.conn.search(None, "ALL"), "search the mailbox")
        for number in (numbers or b"").split():
            data = _ok(self.conn.fetch(number.decode(), "(BODY.PEEK[])"), "fetch a message")
            raw = next((item[1] for item in data if isinstance(item, tuple)), None)
            if raw is not None:
                yield number.decode(), raw

    def done(self, key: str, *, move: bool) -> None:  # noqa: D102
        if move:
            typ, data = self.conn.copy(key, PROCESSED)
            if typ != "OK" and b"TRYCREATE" in b" ".join(x for x in data if isinstance(x, bytes)):
                _ok(self.conn.create(PROCESSED), f"create the folder {PROCESSED!r}")
                typ, data = self.conn.copy(key, PROCESSED)
            _ok((typ, data), f"copy a message into {PROCESSED!r}")
            _ok(self.conn.store(key, "+FLAGS", "(\\Seen \\Deleted)"), "mark a message")
            self.moved = True
        else:
            _ok(self.conn.store(key, "+FLAGS", "(\\Seen)"), "mark a message seen")

    def close(self) -> None:  # noqa: D102
        try:
            if getattr(self, "moved", False):
                self.conn.expunge()  # message numbers stay valid until now
            if self.conn.state == "SELECTED":
                self.conn.close()
            self.conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass  # the server went away: nothing is left to release


def _quoted(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9._/-]+", name) else '"' + name.replace(
        "\\", "\\\\").replace('"', '\\"') + '"'


def open_source(*, maildir: str | None = None, mbox: str | None = None,
                imap: str | None = None) -> Source:
    """The one source named; the CLI makes sure exactly one is."""
    if maildir:
        return MaildirSource(Path(maildir))
    if mbox:
        return MboxSource(Path(mbox))
    return ImapSource(imap or "")
