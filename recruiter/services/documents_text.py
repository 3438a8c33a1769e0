"""What an uploaded CV or cover letter is, judged by its bytes, and its plain text.

Accepted: PDF, Word (.docx) and plain text. The name's extension must agree with the bytes
(``%PDF-``, a ZIP holding ``word/document.xml``, or text that decodes), so a renamed program or
an old binary .doc is refused with the file's name in the sentence. Extraction is bounded: at
most ``PDF_MAX_PAGES`` pages, ``DOCX_XML_MAX`` bytes of Word XML (with no DOCTYPE, so no entity
can expand) and ``TEXT_MAX_CHARS`` characters kept.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from xml.etree.ElementTree import ParseError, XMLPullParser

from ..errors import RecruiterError

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT = "text/plain"
EXTENSIONS = {".pdf": PDF, ".docx": DOCX, ".txt": TEXT}
WHAT = {PDF: "a PDF", DOCX: "a Word (.docx) document", TEXT: "a text file"}
ACCEPTED = "only PDF, Word (.docx) or text files"
TEXT_MAX_CHARS = 200_000
PDF_MAX_PAGES = 50
DOCX_XML_MAX = 20 * 1024 * 1024
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class DocumentError(RecruiterError):
    """A file that cannot be kept as a CV or cover letter; the message names the file."""


@dataclass(frozen=True)
class Checked:
    """An accepted file: its media type and the text to read beside the note."""

    media_type: str
    text: str


def megabytes(size: int) -> str:
    """A size for people: "2.4 MB", "340 KB"."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    return f"{max(size // 1024, 1)} KB"


def clean_name(name: str) -> str:
    """The file's own name without any folder, control characters or excess length."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = _CONTROL.sub("", unicodedata.normalize("NFC", base)).strip()
    if len(base) > 200:
        stem, dot, ext = base.rpartition(".")
        base = (stem[:190] + dot + ext[:9]) if dot and len(ext) < 10 else base[:200]
    return base or "document"


def sniff(data: bytes) -> str | None:
    """The media type the bytes themselves say, or None for anything else."""
    if b"%PDF-" in data[:1024]:
        return PDF
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return DOCX if "word/document.xml" in archive.namelist() else None
        except (zipfile.BadZipFile, ValueError):
            return None
    return TEXT if decode_text(data) is not None else None


def decode_text(data: bytes) -> str | None:
    """Text as UTF-8 (or UTF-16 with its mark, or Windows-1252); None when it is binary."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    elif b"\x00" in data:
        return None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    return None if _CONTROL.search(text) else text


def check_file(name: str, data: bytes, max_bytes: int) -> Checked:
    """Accept a PDF, .docx or text file by its bytes and extract its text, or refuse it."""
    if not data:
        raise DocumentError(f"{name}: the file is empty.")
    if len(data) > max_bytes:
        raise DocumentError(f"{name}: at {megabytes(len(data))} it is larger than the "
                            f"{megabytes(max_bytes)} allowed per file.")
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise DocumentError(f"{name}: an older Word (.doc) file. Save it as .docx or PDF and "
                            "upload that.")
    expected = EXTENSIONS.get(PurePosixPath(name.lower()).suffix)
    if expected is None:
        raise DocumentError(f"{name}: {ACCEPTED}.")
    found = sniff(data)
    if found != expected:
        inside = WHAT.get(found or "", "something else")
        raise DocumentError(f"{name}: the name says {WHAT[expected]}, but the file is "
                            f"{inside}; {ACCEPTED}.")
    return Checked(expected, extract_text(name, expected, data))


def extract_text(name: str, media_type: str, data: bytes) -> str:
    """The plain text of an accepted file, tidied and cut at ``TEXT_MAX_CHARS``."""
    if media_type == PDF:
        text = _pdf_text(name, data)
    elif media_type == DOCX:
        text = _docx_text(name, data)
    else:
        text = decode_text(data) or ""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()[:TEXT_MAX_CHARS]


def _pdf_text(name: str, data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        with warnings.catch_warnings():  # a sloppy but readable PDF is still accepted
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise DocumentError(f"{name}: the PDF is protected by a password. Upload a "
                                    "copy without one.")
            parts: list[str] = []
            for page in reader.pages[:PDF_MAX_PAGES]:
                parts.append(page.extract_text() or "")
                if sum(map(len, parts)) > TEXT_MAX_CHARS:
                    break
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise DocumentError(f"{name}: this PDF cannot be read ({type(exc).__name__}). Save it "
                            "again as PDF, or upload a .docx or text copy.") from exc
    # A PDF's lines end where the layout wrapped them: join a line to the next when that
    # one goes on with the sentence (a lower-case word or a number).
    return re.sub(r"(?<=[^\n.:;!?])\n(?=[a-z0-9(])", " ", "\n\n".join(parts))


def _docx_text(name: str, data: bytes) -> str:
    unreadable = DocumentError(f"{name}: this Word document cannot be read. Save it again as "
                               ".docx or PDF and upload that.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("word/document.xml")
            if info.file_size > DOCX_XML_MAX:
                raise DocumentError(f"{name}: its text is too large to read "
                                    f"({megabytes(info.file_size)} of Word XML).")
            with archive.open(info) as handle:
                xml = handle.read(DOCX_XML_MAX + 1)
    except (zipfile.BadZipFile, KeyError, ValueError, RuntimeError, OSError) as exc:
        raise unreadable from exc
    if len(xml) > DOCX_XML_MAX or b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise unreadable  # Word never writes a DTD; one here could only expand entities
    parser = XMLPullParser(events=("start", "end"))
    out: list[str] = []
    try:
        parser.feed(xml)
        parser.close()
        for event, element in parser.read_events():
            tag = element.tag
            if event == "end" and tag == _W + "t":
                out.append(element.text or "")
            elif event == "start" and tag == _W + "tab":
                out.append("\t")
            elif event == "start" and tag in (_W + "br", _W + "cr"):
                out.append("\n")
            elif event == "end" and tag == _W + "p":
                out.append("\n")
    except ParseError as exc:
        raise unreadable from exc
    return "".join(out)
