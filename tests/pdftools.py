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
