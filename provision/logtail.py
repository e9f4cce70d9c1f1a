"""The end of a web server log, read the way a viewer of an untrusted file must: from the end of
the file backwards in blocks, never more than a byte cap (a log of gigabytes costs the same as a
small one), each line decoded leniently, stripped of control characters (no terminal escapes
reach a download or a terminal) and cut to a maximum length. A client can make its site log
anything: what this returns is plain text, to be escaped again wherever it is shown."""
from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_LINES = 1000
DEFAULT_LINES = 100
MAX_BYTES = 1024 * 1024  # read at most this much of the end of a file
LINE_CHARS = 2000  # a longer line is cut, with an ellipsis
_BLOCK = 64 * 1024
# Every C0 control but tab, DEL and the C1 controls (ESC sequences, CSI U+009B among them).
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# The combined format: `host ident user [time] "request" status bytes ...`.
_STATUS = re.compile(r'^\S+ \S+ \S+ \[[^\]]*\] "(?:[^"\\]|\\.)*" (\d{3}) ')


@dataclass
class Tail:
    lines: list[str] = field(default_factory=list)
    exists: bool = True
    bytes_read: int = 0
    truncated: bool = False  # the byte cap was reached before enough lines were found


def clean(line: str) -> str:
    text = _CONTROLS.sub("\ufffd", line)
    return text if len(text) <= LINE_CHARS else text[:LINE_CHARS] + "…"


def status_of(line: str) -> str | None:
    found = _STATUS.match(line)
    return found.group(1) if found else None


def tail(path: Path, lines: int = DEFAULT_LINES, *, grep: str = "", status: str = "",
         max_bytes: int = MAX_BYTES) -> Tail:
    """The last LINES lines of PATH (those matching GREP, a plain substring, and STATUS, a
    3-digit code or a class like `5xx`), read from the end, at most MAX_BYTES of it."""
    lines = max(1, min(int(lines), MAX_LINES))
    result = Tail()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:  # missing, or a link (ELOOP): a log is a plain file of its own
        if exc.errno not in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            raise
        result.exists = False
        return result
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            result.exists = False
            return result
        position = info.st_size
        buffer = b""
        found: list[str] = []
        while position > 0 and len(found) < lines:
            size = min(_BLOCK, position, max_bytes - result.bytes_read)
            if size <= 0:
                result.truncated = True
                break
            position -= size
            block = os.pread(fd, size, position)
            result.bytes_read += len(block)
            buffer = block + buffer
            parts = buffer.split(b"\n")
            buffer = parts[0]  # may be the end of a line that starts before this block
            for raw in reversed(parts[1:]):
                _keep(raw, found, grep, status)
                if len(found) >= lines:
                    break
        if position == 0 and buffer and len(found) < lines:
            _keep(buffer, found, grep, status)
        result.lines = list(reversed(found[:lines]))
        return result
    finally:
        os.close(fd)


def _keep(raw: bytes, found: list[str], grep: str, status: str) -> None:
    if not raw:
        return
    line = raw.decode("utf-8", "replace").rstrip("\r")
    if grep and grep.lower() not in line.lower():
        return
    if status:
        code = status_of(line)
        if code is None:
            return
        if status.endswith("xx") and code[0] != status[0]:
            return
        if not status.endswith("xx") and code != status:
            return
    found.append(clean(line))


def check_status(value: str) -> str:
    """"" or a status filter (`404`, `5xx`), else ValueError."""
    value = (value or "").strip().lower()
    if value and not re.fullmatch(r"[1-5](\d\d|xx)", value):
        raise ValueError("The status filter is a code like 404 or a class like 5xx.")
    return value
