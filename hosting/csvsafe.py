"""CSV exports that stay text when a spreadsheet opens them. One guard for every writer: the
task list's export (panel and `manage.py tasks export`) and the audit trail's."""
from __future__ import annotations

from typing import Any

# A cell starting with one of these is a formula (or becomes one) to Excel, LibreOffice and
# Google Sheets (OWASP "CSV injection"): a username or domain like "=HYPERLINK(...)" must stay
# text. Only a first character counts, so an empty cell has nothing to guard.
FORMULA_STARTS = frozenset("=+-@\t\r")


def csv_safe(value: Any) -> Any:
    """VALUE with a leading quote when it would start a formula; anything else as it is."""
    if isinstance(value, str) and value and value[0] in FORMULA_STARTS:
        return "'" + value
    return value


class Echo:
    """A file-like object whose write() returns the line: csv.writer feeding a streamed answer."""

    def write(self, value: str) -> str:
        return value
