"""Transports: hand one frozen message to the outside world and say exactly what happened.

Chosen by ``RECRUITER_MAIL_URL``: ``file://`` writes one ``.eml`` per message to an outbox
folder (the embedded default), ``smtp://``, ``smtp+starttls://`` and ``smtps://`` talk SMTP over
one reused connection per worker thread. A transport never raises for a delivery problem: it
returns an ``Outcome`` that says whether a retry is safe.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ...errors import RecruiterError


@dataclass(frozen=True)
class Outcome:
    """What happened to one attempt: sent, retry, failed or in_doubt, and the server's words.

    ``unreachable``: no connection could be made, so the next letters would fare the same.
    """

    state: str
    reply: str
    unreachable: bool = False


class Transport:
    """Hands one message to the outside world."""

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> Outcome:
        """Deliver ``message``; never raises for delivery problems, returns an Outcome."""
        raise NotImplementedError

    def close(self) -> None:
        """Release any connection."""


def outbox_name(message_id: str) -> str:
    """The file name of a message in the outbox folder, from its Message-ID."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", message_id.strip("<>")) + ".eml"


class FileTransport(Transport):
    """The embedded default: one ``.eml`` per message in an outbox folder, written once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> Outcome:
        """Write the message; a second write of the same Message-ID is refused by the OS."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = outbox_name(message_id)
        final = self.folder / name
        tmp = self.folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_bytes(message)
        try:
            os.link(tmp, final)  # atomic, and fails if the file exists
        except FileExistsError:
            return Outcome("sent", f"already in the outbox as {name}")
        finally:
            tmp.unlink(missing_ok=True)
        return Outcome("sent", f"written to {final}")


class _Refused(Exception):
    def __init__(self, code: int, text: str, stage: str) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text, self.stage = code, text, stage


def _decode(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _ascii_envelope(address: str) -> str | None:
    """The address with its domain in ASCII (IDNA) form; None when the mailbox is not ASCII."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        return None
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return None


def _wire(message: bytes) -> bytes:
    """CRLF line ends, dot-stuffing and the final dot, as SMTP DATA wants them."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", message)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


NOOP_IDLE = 10.0  # seconds; see SmtpTransport._connection
_STALE = object()


class SmtpTransport(Transport):
    """SMTP with one reused connection; knows which failures are safe to retry."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or {"smtps": 465, "smtp+starttls": 587}.get(self.scheme, 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None
        self._used = 0.0  # time.monotonic() of the last reply on the connection

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.scheme == "smtps":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                  context=context)
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        conn.ehlo()
        if self.scheme == "smtp+starttls":
            conn.starttls(context=context)
            conn.ehlo()
        if self.user:
            conn.login(self.user, self.password or "")
        return conn

    def _connection(self) -> tuple[smtplib.SMTP, bool]:
        """The connection and whether it is a reused one, which may have died unnoticed.

        Letters of one batch follow each other within milliseconds, so only a connection idle
        for longer than ``NOOP_IDLE`` is checked with a NOOP first: that is when a server drops
        idle clients. ``send`` copes with the rest by reconnecting once.
        """
        if self._conn is not None:
            if time.monotonic() - self._used < NOOP_IDLE:
                return self._conn, True
            try:
                if self._conn.noop()[0] == 250:
                    return self._conn, True
            except (smtplib.SMTPException, OSError):
                pass
            self.close()
        self._conn = self._connect()
        self._used = time.monotonic()
        return self._conn, False

    def close(self) -> None:
        """Say goodbye if we can, drop the connection either way."""
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._conn = None

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> Outcome:
        """MAIL, RCPT and DATA by hand, so that a failure after the content left is known."""
        outcome = self._envelope(sender, recipient)
        if outcome is _STALE:  # the reused connection had died; nothing left: a new one, once
            outcome = self._envelope(sender, recipient)
        if isinstance(outcome, Outcome):
            return outcome
        conn = self._conn
        assert conn is not None
        # From here on the server may have the message: a failure is a doubt, never a retry.
        try:
            conn.send(_wire(message))
            code, text = conn.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Outcome("in_doubt", f"connection lost after the message was sent: {exc}")
        self._used = time.monotonic()
        reply = f"{code} {_decode(text)}"
        if code == 250:
            return Outcome("sent", reply)
        self._reset()
        return Outcome("failed" if 500 <= code < 600 else "retry", f"after DATA: {reply}")

    def _envelope(self, sender: str, recipient: str) -> Outcome | object | None:
        """MAIL FROM, RCPT TO and DATA: None when the server waits for the content.

        ``_STALE`` when a reused connection turned out dead or closing (a hang-up, or a 421
        as a server says goodbye), before anything of the message left.
        """
        try:
            conn, reused = self._connection()
        except smtplib.SMTPResponseException as exc:  # refused at connect, HELO or AUTH
            self.close()
            state = "failed" if 500 <= exc.smtp_code < 600 else "retry"
            return Outcome(state, f"connect: {exc.smtp_code} {_decode(exc.smtp_error)}",
                           unreachable=True)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Outcome("retry", f"connection failed before sending: {exc or type(exc)}",
                           unreachable=True)
        try:
            mail_from, rcpt_to = _ascii_envelope(sender), _ascii_envelope(recipient)
            options: list[str] = []
            if mail_from is None or rcpt_to is None:  # a mailbox name beyond ASCII
                if not conn.has_extn("smtputf8"):
                    return Outcome("failed", "RCPT TO: the address has non-ASCII characters "
                                             "before the @, and the server does not offer "
                                             "SMTPUTF8")
                mail_from, rcpt_to, options = sender, recipient, ["SMTPUTF8"]
            self._expect(conn.mail(mail_from, options), (250,), "MAIL FROM")
            self._expect(conn.rcpt(rcpt_to), (250, 251), "RCPT TO")
            self._expect(conn.docmd("DATA"), (354,), "DATA")
        except _Refused as exc:
            if reused and exc.code == 421:
                self.close()
                return _STALE
            self._reset()
            state = "failed" if 500 <= exc.code < 600 else "retry"
            return Outcome(state, f"{exc.stage}: {exc.code} {exc.text}")
        except (smtplib.SMTPException, OSError) as exc:  # nothing of the message has left
            self.close()
            if reused:
                return _STALE
            return Outcome("retry", f"connection failed before sending: {exc or type(exc)}")
        return None

    @staticmethod
    def _expect(reply: tuple[int, bytes], ok: tuple[int, ...], stage: str) -> None:
        code, text = reply
        if code not in ok:
            raise _Refused(code, _decode(text), stage)

    def _reset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self.close()


_local = threading.local()


def transport_for(url: str) -> Transport:
    """The transport for ``url`` in this thread: one reused SMTP connection per worker thread."""
    cache: dict[str, Transport] = _local.__dict__.setdefault("transports", {})
    if url not in cache:
        scheme = urlsplit(url).scheme
        if scheme == "file":
            cache[url] = FileTransport(Path(unquote(urlsplit(url).path)))
        elif scheme in ("smtp", "smtps", "smtp+starttls"):
            cache[url] = SmtpTransport(url)
        else:
            raise RecruiterError(f"RECRUITER_MAIL_URL must start with file://, smtp://, "
                                 f"smtp+starttls:// or smtps://, not {scheme}://.")
    return cache[url]
