"""Refusing work that would not fit on the disk, before anything is written: a backup, clone or
copying migrate that fills the disk half way fails late and can take the sites' own writes
(sessions, uploads, the database) down with it."""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from provision.errors import ProvisionError

MARGIN = 0.10  # estimates miss filesystem overhead and files growing meanwhile
RESERVE = 64 << 20  # bytes always left free for everything else on the disk


def human(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _existing(path: Path) -> Path:
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # PATH may not exist yet: its filesystem is its nearest ancestor's
    return probe


def _wanted(needed: int) -> int:
    return int(needed * (1 + MARGIN)) + RESERVE


def check_copy_space(sources: Iterable[Path], dest: Path, what: str, size_of: Callable[[Path], int]) -> None:
    """check_space for a copy of the trees SOURCES to DEST, walking them for their size (SIZE_OF)
    only when it matters: when DEST's filesystem has room for everything stored on the sources'
    filesystems, no copy from them can fill it, and 10,000 stat calls are saved."""
    sources = [Path(s) for s in sources]
    devices: dict[int, int] = {}
    for source in sources:
        stat = os.statvfs(source)
        devices[os.stat(source).st_dev] = (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    if shutil.disk_usage(os.fspath(_existing(dest))).free >= _wanted(sum(devices.values())):
        return
    check_space(dest, sum(size_of(s) for s in sources), what)


def check_space(dest: Path, needed: int, what: str) -> None:
    """Raise a ProvisionError with the figures when writing NEEDED bytes (plus the margin) at
    DEST would not fit in the free space of DEST's filesystem."""
    probe = _existing(dest)
    usage = shutil.disk_usage(os.fspath(probe))
    wanted = _wanted(needed)
    if usage.free < wanted:
        raise ProvisionError(
            f"{what} needs about {human(needed)} at {dest} ({human(wanted)} with a {MARGIN:.0%} margin "
            f"and {human(RESERVE)} kept free), but {probe} has only {human(usage.free)} free of "
            f"{human(usage.total)}. Nothing was written; free some space first.")
