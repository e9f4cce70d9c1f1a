"""What a task's log may hold: each line text the control database can store and at most
MAX_LINE characters, and each task's log at most HARBORMASTER_TASK_LOG_MAX_LINES lines and
HARBORMASTER_TASK_LOG_MAX_CHARS characters.

Lines come from programs a client controls (drush prints what the site's code prints), from file
names on the client's disk and from error messages quoting them: a line can be 30 MB, hold bytes
that are not UTF-8 (a str with surrogate escapes, from os.fsdecode) or NULs, which PostgreSQL
and SQLite refuse. None of that may cost a line, a batch or a page.

A log past its budget keeps its head (three quarters: what the task set out to do, and the
first error, usually the cause) and a window of its last lines (a quarter: the last step, the
rollback, the end), with one marker row between them that says how many lines were dropped.
The summary line the engine writes when the task ends is never counted or dropped."""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from django.conf import settings

from provision.runner import MAX_LINE

TRUNCATED = " [line truncated]"
MARKER = re.compile(r"\[([\d,]+) lines dropped here: a task's log keeps")


def clean(text: object) -> str:
    """TEXT as a line the database stores: cut to MAX_LINE characters, undecodable bytes and
    NULs replaced by U+FFFD."""
    if not isinstance(text, str):
        text = str(text)
    if len(text) > MAX_LINE:
        text = text[:MAX_LINE] + TRUNCATED
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = replace_surrogates(text)
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text


def replace_surrogates(text: str) -> str:
    """TEXT with the bytes that were not UTF-8 replaced by U+FFFD. A name read with
    surrogateescape (os.fsdecode, os.listdir) holds each undecodable byte as U+DC80..U+DCFF:
    back to those bytes, then decoded with U+FFFD for what is not UTF-8."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # other lone surrogates
        return text.encode("utf-8", "replace").decode("utf-8")


@dataclass(frozen=True)
class Limits:
    lines: int
    chars: int

    @property
    def head_lines(self) -> int:
        return self.lines - self.tail_lines

    @property
    def tail_lines(self) -> int:
        return max(1, self.lines // 4)

    @property
    def head_chars(self) -> int:
        return self.chars - self.tail_chars

    @property
    def tail_chars(self) -> int:
        return max(MAX_LINE + len(TRUNCATED), self.chars // 4)


def limits() -> Limits:
    return Limits(int(settings.HARBORMASTER_TASK_LOG_MAX_LINES), int(settings.HARBORMASTER_TASK_LOG_MAX_CHARS))


@dataclass
class Placed:
    """Where one flush puts its lines: rows to insert, rows of the window to delete, and the
    marker to write, if lines were dropped."""
    rows: list[tuple[int, tuple]]       # (position, (at, level, line))
    delete: list[int]                   # positions
    marker: tuple[int, int] | None      # (position, dropped so far)
    new_marker: bool                    # the marker row is inserted (else updated)
    state: Budget


@dataclass
class Budget:
    """One writer's view of its task's log: lines and characters of the head (this writer's
    lines and those before it), and, once the head is full, the window of its last lines."""
    limits: Limits
    lines: int = 0
    chars: int = 0
    marker: int | None = None            # position of the marker row, reserved when the head filled
    dropped: int = 0
    marker_written: bool = False
    window: deque = field(default_factory=deque)   # (position, chars) of window rows written
    window_chars: int = 0

    def place(self, lines: list[tuple], first: int) -> Placed:
        """Positions for LINES from FIRST on (the next free position of the log). Returns the
        plan and the budget as it is once the plan is written (self is unchanged: a flush
        that fails is planned again)."""
        after = Budget(self.limits, self.lines, self.chars, self.marker, self.dropped, self.marker_written,
                       deque(self.window), self.window_chars)
        position = first
        head: list[tuple[int, tuple]] = []
        tail: list[tuple[int, tuple]] = []
        for entry in lines:
            size = len(entry[2])
            if after.marker is None and (after.lines + 1 > self.limits.head_lines
                                         or after.chars + size > self.limits.head_chars):
                after.marker = position
                position += 1
            if after.marker is None:
                head.append((position, entry))
                after.lines += 1
                after.chars += size
            else:
                tail.append((position, entry))
                after.window.append((position, size))
                after.window_chars += size
            position += 1
        delete: list[int] = []
        cut = 0
        # Rows of the window at or below this position are in the database already.
        written = self.window[-1][0] if self.window else -1
        while after.window and (len(after.window) > self.limits.tail_lines
                                or after.window_chars > self.limits.tail_chars):
            gone, size = after.window.popleft()
            after.window_chars -= size
            cut += 1
            if gone <= written:
                delete.append(gone)
        kept = {p for p, _ in after.window}
        tail = [(p, e) for p, e in tail if p in kept]
        after.dropped += cut
        marker = (after.marker, after.dropped) if cut and after.marker is not None else None
        if marker is not None:
            after.marker_written = True
        return Placed(head + tail, delete, marker, marker is not None and not self.marker_written, after)

    def marker_line(self, dropped: int) -> str:
        return (f"[{dropped:,} lines dropped here: a task's log keeps its first and its last lines, "
                f"at most {self.limits.lines:,} lines and {self.limits.chars:,} characters "
                "(HARBORMASTER_TASK_LOG_MAX_LINES, HARBORMASTER_TASK_LOG_MAX_CHARS)]")


def over_head(limits: Limits, count: int, chars: int) -> bool:
    """Has a log of COUNT lines and CHARS characters filled its head (an earlier run's)?"""
    return count > limits.head_lines or chars > limits.head_chars


def resume(limits: Limits, rows: list[tuple[int, int, str]]) -> Budget:
    """The budget of a log that earlier runs of the task (before a re-queue, a resume, a
    reaper's rollback) filled past its head, rebuilt from its rows (position, characters, the
    line's start), so that every run shares one head, one marker and one window.

    The head is the first rows that fit it; the marker is the row after them when it is one, or
    the position the earlier run reserved for it (a gap: no line was dropped yet); the rest is
    the window, which this run's lines slide along."""
    budget = Budget(limits)
    index = 0
    for _position, size, _ in rows:
        if budget.lines + 1 > limits.head_lines or budget.chars + size > limits.head_chars:
            break
        budget.lines += 1
        budget.chars += size
        index += 1
    rest = rows[index:]
    found = MARKER.match(rest[0][2]) if rest else None
    if found:
        budget.marker, budget.marker_written = rest[0][0], True
        budget.dropped = int(found.group(1).replace(",", ""))
        rest = rest[1:]
    elif index and (not rest or rest[0][0] > rows[index - 1][0] + 1):
        budget.marker = rows[index - 1][0] + 1
    for position, size, _ in rest:
        budget.window.append((position, size))
        budget.window_chars += size
    return budget
