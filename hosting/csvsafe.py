"""CSV exports that stay text when a spreadsheet opens them: one writer, one formula guard, for
every export (the task list's, in the panel and `manage.py tasks export`, and the audit trail's).
Lines are produced one at a time, so an export of 200,000 rows never sits in memory."""
from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

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


def lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV lines of HEADER and ROWS, every cell guarded by csv_safe."""
    writer = csv.writer(Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_safe(cell) for cell in row])


def write(out: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write the CSV lines of HEADER and ROWS to OUT. Returns the number of rows."""
    written = 0
    for line in lines(header, rows):
        out.write(line)
        written += 1
    return written - 1  # the header is not a row
