"""DKIM: each outgoing email signed (rsa-sha256, relaxed/relaxed) when the settings ask for it.

Applied to the final bytes where they are made (freezing, and the test letter), so that the
stored audit copy is byte for byte what the transport sends. The three settings go together:
``RECRUITER_DKIM_SELECTOR``, ``RECRUITER_DKIM_DOMAIN`` and ``RECRUITER_DKIM_KEY_FILE`` (a PEM
RSA private key, PKCS#1 or PKCS#8; it is read from the file each time, never stored in the
database). None of them set: no signature. Anything else wrong is a RecruiterError naming the
setting, raised before a batch writes anything.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dkim

from ..errors import RecruiterError

HEADERS = (b"From", b"To", b"Subject", b"Date", b"Message-ID", b"Reply-To", b"MIME-Version",
           b"Content-Type")
SETTINGS = ("DKIM_SELECTOR", "DKIM_DOMAIN", "DKIM_KEY_FILE")
KEY_BITS = 2048
_PROBE = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: probe\r\n"
          b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <probe@example.com>\r\n"
          b"\r\nprobe\r\n")


@dataclass(frozen=True)
class Signer:
    """A loaded key and where its public half is published (``selector._domainkey.domain``)."""

    selector: str
    domain: str
    key: bytes  # PEM

    def __call__(self, message: bytes) -> bytes:
        """``message`` with a DKIM-Signature header in front (CRLF, like the message)."""
        header = dkim.sign(message, self.selector.encode("ascii"), self.domain.encode("ascii"),
                           self.key, canonicalize=(b"relaxed", b"relaxed"),
                           signature_algorithm=b"rsa-sha256", include_headers=list(HEADERS),
                           linesep=b"\r\n")
        return header + message


def _unsigned(message: bytes) -> bytes:
    return message


def check_name(setting: str, value: str) -> None:
    """A RecruiterError naming ``setting`` unless ``value`` can be a DNS name (ASCII, A-labels)."""
    if not re.fullmatch(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?", value or ""):
        raise RecruiterError(f"{setting} is not a DNS name (letters, digits, '-', '_' and "
                             f"'.'; an IDN in its xn-- form): {value!r}.")


def load(selector: Any, domain: Any, key_file: Any) -> Signer | None:
    """The signer of these settings; None when none is set, a RecruiterError when wrong."""
    values = {name: str(value).strip() if value not in (None, "") else ""
              for name, value in zip(SETTINGS, (selector, domain, key_file), strict=True)}
    if not any(values.values()):
        return None
    missing = [f"RECRUITER_{name}" for name, value in values.items() if not value]
    if missing:
        raise RecruiterError("DKIM signing needs RECRUITER_DKIM_SELECTOR, RECRUITER_DKIM_DOMAIN "
                             f"and RECRUITER_DKIM_KEY_FILE together; {', '.join(missing)} "
                             f"{'is' if len(missing) == 1 else 'are'} not set.")
    for name in ("DKIM_SELECTOR", "DKIM_DOMAIN"):
        check_name(f"RECRUITER_{name}", values[name])
    path = Path(values["DKIM_KEY_FILE"])
    try:
        key = path.read_bytes().replace(b"\r\n", b"\n")
    except OSError as exc:
        raise RecruiterError(f"RECRUITER_DKIM_KEY_FILE: the DKIM private key {path} cannot be "
                             f"read ({exc.strerror or exc}); nothing was signed or sent.") from exc
    signer = Signer(values["DKIM_SELECTOR"], values["DKIM_DOMAIN"].rstrip("."), key)
    try:  # parsed, and a test signature made, before any letter depends on it
        signer(_PROBE)
    except Exception as exc:  # noqa: BLE001  (dkimpy raises several kinds for a bad key)
        raise RecruiterError(f"RECRUITER_DKIM_KEY_FILE: {path} is not a PEM RSA private key "
                             f"that DKIM can sign with ({exc}); nothing was signed or sent."
                             ) from exc
    return signer


def signer(config: Mapping[str, Any] | None = None) -> Callable[[bytes], bytes]:
    """What to apply to each message: the configured signer, or the message unchanged.

    ``config`` defaults to the current app's (no app: unsigned). Raises a RecruiterError
    naming the setting when the settings are incomplete or the key is unusable.
    """
    if config is None:
        from flask import current_app, has_app_context

        if not has_app_context():
            return _unsigned
        config = current_app.config
    loaded = load(*(config.get(name) for name in SETTINGS))
    return _unsigned if loaded is None else loaded


def generate(out: Path) -> bytes:
    """Write a new 2048-bit RSA key (PKCS#1 PEM) to ``out`` with mode 0600; the public DER.

    Refuses to overwrite an existing file. The file is created 0600, never widened later.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, pem)
    finally:
        os.close(fd)
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def txt_value(public_der: bytes) -> str:
    """The TXT record's text: ``v=DKIM1; k=rsa; p=<base64 of the public key>``."""
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(public_der).decode("ascii")


def txt_record(selector: str, domain: str, public_der: bytes) -> str:
    """The zone-file line; the text split into quoted strings of at most 255 characters."""
    value = txt_value(public_der)
    parts = " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
    return f"{selector}._domainkey.{domain.rstrip('.')}. IN TXT {parts}"
