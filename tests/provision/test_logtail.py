"""provision.logtail: the end of a file read from the end, never more than the byte cap; lines
cut and stripped of control characters; the status filter of the combined format."""
from __future__ import annotations

import os
import time

import pytest

from provision import logtail

LINE = '203.0.113.9 - - [07/Dec/2026:10:00:00 +0000] "GET /node/{n} HTTP/1.1" {status} 512 "-" "curl/8"'


def write(path, count, status=200):
    path.write_text("".join(LINE.format(n=n, status=status if n % 3 else 404) + "\n" for n in range(count)))


def test_the_last_lines_in_order(tmp_path):
    log = tmp_path / "a.log"
    write(log, 50)
    found = logtail.tail(log, 5)
    assert [line.split()[6] for line in found.lines] == [f"/node/{n}" for n in range(45, 50)]


def test_filter_by_status_and_text(tmp_path):
    log = tmp_path / "a.log"
    write(log, 30)
    assert all('" 404 ' in line for line in logtail.tail(log, 100, status="404").lines)
    assert len(logtail.tail(log, 100, status="404").lines) == 10
    assert len(logtail.tail(log, 100, status="4xx").lines) == 10
    assert len(logtail.tail(log, 100, status="200").lines) == 20
    assert logtail.tail(log, 100, grep="/NODE/7 ").lines == [LINE.format(n=7, status=200)]
    with pytest.raises(ValueError):
        logtail.check_status("40")


def test_a_huge_file_is_read_from_its_end_only(tmp_path):
    log = tmp_path / "huge.log"
    with open(log, "wb") as out:  # 2 GB, sparse: reading it whole would take seconds and memory
        out.truncate(2 << 30)
        out.seek(2 << 30)
        out.write(b"\n".join(LINE.format(n=n, status=200).encode() for n in range(200)) + b"\n")
    started = time.monotonic()
    found = logtail.tail(log, 100)
    assert time.monotonic() - started < 1
    assert len(found.lines) == 100 and found.bytes_read <= 64 * 1024
    # A filter that matches nothing stops at the byte cap, not at the start of the file.
    started = time.monotonic()
    found = logtail.tail(log, 100, grep="never there")
    assert found.lines == [] and found.truncated and found.bytes_read == logtail.MAX_BYTES
    assert time.monotonic() - started < 2


def test_hostile_lines_are_cut_and_stripped(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"\x1b[2J\x1b]0;owned\x07<script>alert(1)</script>\xff\n" + b"A" * 100_000 + b"\n")
    first, second = logtail.tail(log, 10).lines
    assert "\x1b" not in first and "\x07" not in first and "<script>" in first  # escaped on display
    assert len(second) == logtail.LINE_CHARS + 1 and second.endswith("…")


def test_a_link_or_missing_file_is_not_read(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("password\n")
    os.symlink(secret, tmp_path / "link.log")
    assert not logtail.tail(tmp_path / "link.log").exists
    assert not logtail.tail(tmp_path / "missing.log").exists
