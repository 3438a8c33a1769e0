"""Reading a CSV file's bytes as text: UTF-8, or the best guess with a warning to check it.

Spreadsheets still save "CSV" in the computer's local code page: Windows-1252 in Western
Europe and the Americas, Shift JIS in Japan, GBK in China. A file that is not UTF-8 is read
with charset-normalizer's best guess; when the guess is not confident, a short file of names
being the usual case, the code pages spreadsheets write come first, and the preview says
which one was used so that a person checks the names before anything is saved.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from charset_normalizer import from_bytes

from ..errors import CandidateImportError

# Code pages a spreadsheet's "CSV" is saved in, most common first: the tie-breaker when the
# detector is not sure (short files of names give it little to go on).
SPREADSHEET_CODE_PAGES = ("cp1252", "cp932", "gb18030", "big5", "cp949", "cp1251", "cp1250",
                          "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258")
CONFIDENT_COHERENCE = 0.2  # charset-normalizer's language coherence, 0 to 1
NAMES = {"cp1252": "Windows-1252 (Western European)", "cp932": "Shift JIS (Japanese)",
         "gb18030": "GB18030 (Chinese)", "big5": "Big5 (Traditional Chinese)",
         "cp949": "Korean (CP949)", "cp1251": "Windows-1251 (Cyrillic)",
         "cp1250": "Windows-1250 (Central European)"}


@dataclass(frozen=True)
class Decoded:
    """The text of a file, the encoding it was read with, and a warning when it was a guess."""

    text: str
    encoding: str
    warning: str = ""


def _canonical(encoding: str) -> str:
    return codecs.lookup(encoding).name.replace("_", "").replace("-", "")


def _decodes_to(data: bytes, encoding: str, text: str) -> bool:
    try:
        return data.decode(encoding) == text
    except UnicodeDecodeError:
        return False


def decode_csv(data: bytes) -> Decoded:
    """The file's text; refusals name the problem and the line."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CandidateImportError("The file is UTF-16 text; save it as \"CSV UTF-8\" instead.")
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise CandidateImportError("This is a spreadsheet workbook, not a CSV file; save it as "
                                   "\"CSV UTF-8\" first.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if data.startswith(codecs.BOM_UTF8):
            # The BOM promises UTF-8, so guessing another encoding would garble names.
            line = data.count(b"\n", 0, exc.start) + 1
            raise CandidateImportError(f"The file is marked as UTF-8 but line {line} is not; "
                                       "save it again as \"CSV UTF-8\".") from exc
        return _guess(data)
    if text.startswith("\ufeff"):
        return Decoded(text[1:], "utf-8-sig")
    return Decoded(text, "utf-8")


def _guess(data: bytes) -> Decoded:
    matches = list(from_bytes(data))
    if not matches:
        raise CandidateImportError("recruiter cannot tell how this file is encoded; save it "
                                   "as \"CSV UTF-8\" and import it again.")
    best = matches[0]
    encoding = best.encoding
    confident = best.coherence >= CONFIDENT_COHERENCE
    if not confident:
        found = {_canonical(m.encoding): m.encoding for m in matches}
        encoding = next((found[_canonical(c)] for c in SPREADSHEET_CODE_PAGES
                         if _canonical(c) in found), encoding)
    text = data.decode(encoding)
    # Several code pages often read a file the same way: name the one spreadsheets write.
    encoding = next((c for c in SPREADSHEET_CODE_PAGES if _decodes_to(data, c, text)),
                    encoding)
    name = NAMES.get(codecs.lookup(encoding).name, encoding)
    warning = (f"This file is not UTF-8; it was read as {name}."
               + ("" if confident else " recruiter is not sure of that guess: check that the "
                  "names below read correctly, or save the file as \"CSV UTF-8\"."))
    return Decoded(text, encoding, warning)
