"""Reading PDFs in tests with poppler-utils (pdftotext, pdfinfo), as a person's tools would."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path


def _saved(pdf: bytes, folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(pdf)
    return path


def pdf_text(pdf: bytes, folder: Path, *, layout: bool = False) -> str:
    """The PDF's text as pdftotext gives it (``-layout`` keeps lines as laid out)."""
    path = _saved(pdf, folder, "letter.pdf")
    return subprocess.run(["pdftotext", *(["-layout"] if layout else []), str(path), "-"],
                          check=True, capture_output=True, text=True).stdout


def _info(pdf: bytes, folder: Path) -> str:
    path = _saved(pdf, folder, "info.pdf")
    return subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True,
                          text=True).stdout


def page_count(pdf: bytes, folder: Path) -> int:
    """The number of pages, from pdfinfo."""
    return int(re.search(r"Pages:\s+(\d+)", _info(pdf, folder)).group(1))


def page_size_points(pdf: bytes, folder: Path) -> tuple[int, int]:
    """The first page's width and height in points, from pdfinfo."""
    width, height = re.search(r"Page size:\s+([\d.]+) x ([\d.]+)",
                              _info(pdf, folder)).groups()
    return round(float(width)), round(float(height))


def page_words(pdf: bytes, folder: Path, page: int = 0) -> list[tuple[float, float, float, str]]:
    """Every word of one page (0 is the first), from ``pdftotext -bbox``.

    Each is (left, top, right) in millimetres from the page's top-left corner, and the word.
    """
    path = _saved(pdf, folder, "words.pdf")
    html = subprocess.run(["pdftotext", "-bbox", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout
    mm = 25.4 / 72
    return [(float(x0) * mm, float(y0) * mm, float(x1) * mm, word)
            for x0, y0, x1, word in re.findall(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">'
                r"([^<]*)</word>", html.split("</page>")[page])]
