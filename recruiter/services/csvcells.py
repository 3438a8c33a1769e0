"""CSV cells a spreadsheet will not run as formulas."""

from __future__ import annotations

# A spreadsheet treats a cell starting with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """Neutralise a spreadsheet formula: a cell starting with = + - @ tab or CR gets a '."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text
