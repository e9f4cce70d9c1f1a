"""Shared by the benchmarks that run task types through the engine: a throw-away instance (its
own data directory, roots and SQLite control database in a work directory), sites of a given
size, timing helpers."""
from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WORDS = (b"drupal node field entity render cache views block theme module hook form "
         b"user role permission config schema route controller service plugin").split()


def django_in(work: Path) -> None:
    """Set up Django on a fresh instance inside WORK (nothing outside it is touched)."""
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    os.environ.pop("DATABASE_URL", None)
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "hosting.settings", "HARBORMASTER_DATA_DIR": str(data),
        "HARBORMASTER_ROOTS": str(work), "HARBORMASTER_LOG_LEVEL": "WARNING",
        "HARBORMASTER_Q_LOG_LEVEL": "ERROR",
    })
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def fill_files(files: Path, size: int, count: int, seed: int = 42) -> None:
    """COUNT files totalling SIZE bytes in 500-file folders: half incompressible like images,
    half text like CSS/JS/HTML."""
    rng = random.Random(seed)
    per_file = max(1, size // count)
    for index in range(count):
        folder = files / f"{index // 500:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        if index % 2:
            data = rng.randbytes(per_file)
        else:
            text = b" ".join(rng.choice(WORDS) for _ in range(per_file // 5 + 1))
            data = (text + b"\n" * per_file)[:per_file]
        (folder / f"f{index:05d}.bin").write_bytes(data)


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    return statistics.median(values)


def drop_caches_hint() -> None:
    # Everything is measured warm (the data was just written or read): both sides of each
    # comparison see the same page cache.
    subprocess.run(["sync"], check=False)


def run_task(target: Any, kind: str, args: dict[str, Any] | None = None) -> Any:
    """Queue a task and run it through the engine in this process; fail loudly if it fails."""
    from hosting.actions import queue_task
    from hosting.engine.worker import execute

    task = queue_task(target, kind, args=args)
    execute(task.pk)
    task.refresh_from_db()
    if task.state not in ("succeeded", "warning"):
        lines = "\n".join(line.line for line in task.log.order_by("position"))
        raise SystemExit(f"task {kind} on {target} ended {task.state}: {task.summary}\n{lines}")
    return task
