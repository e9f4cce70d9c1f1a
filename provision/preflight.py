"""Refusing work that would not fit on the disk, before anything is written: a backup, clone or
copying migrate that fills the disk half way fails late and can take the sites' own writes
(sessions, uploads, the database) down with it."""
from __future__ import annotations

import os
import shutil
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


def check_space(dest: Path, needed: int, what: str) -> None:
    """Raise a ProvisionError with the figures when writing NEEDED bytes (plus the margin) at
    DEST would not fit in the free space of DEST's filesystem."""
    probe = Path(dest)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # DEST may not exist yet: its filesystem is its nearest ancestor's
    usage = shutil.disk_usage(os.fspath(probe))
    wanted = int(needed * (1 + MARGIN)) + RESERVE
    if usage.free < wanted:
        raise ProvisionError(
            f"{what} needs about {human(needed)} at {dest} ({human(wanted)} with a {MARGIN:.0%} margin "
            f"and {human(RESERVE)} kept free), but {probe} has only {human(usage.free)} free of "
            f"{human(usage.total)}. Nothing was written; free some space first.")
