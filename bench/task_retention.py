"""Task-history retention at issue 8's scale (bench/scale_data.py: 200,000 tasks, 600,000 steps,
2,000,000 log lines over 90 days): how fast hosting.prune deletes, the longest transaction (the
longest the SQLite write lock is held), and what the engine's writes cost meanwhile.

A probe process does what a busy engine does, over and over: enqueue a task (queue_task: row,
audit event, broker message), claim it (hosting.engine.claim), write a log line, end it. Its
latencies are measured in three rounds, each on a fresh copy of the same data:
  idle        nothing else runs (the baseline)
  batched     hosting.prune.prune(--older-than) runs, in its batches
  one delete  the same tasks deleted in one transaction, as `manage.py tasks clear` does

    .venv/bin/python bench/task_retention.py [--keep DIR] [--older-than 7] [--batch 2000]
        [--sites 10000 --tasks 200000 --lines 2000000] [--database-url postgresql://.../NAME]

--keep DIR keeps the generated data in DIR for the next run (each round works on a copy).
--database-url uses PostgreSQL: NAME holds the generated data, NAME_work each round's copy.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale_data  # noqa: E402

PROBE_PAUSE = 0.02  # seconds between the probe's cycles (about 30 tasks a second)


# --- Copies of the generated data -----------------------------------------------------------

class Store:
    """Where the generated data lives and how a round gets a fresh copy of it."""

    def __init__(self, keep: Path | None, database_url: str | None) -> None:
        self.temp = None if keep else Path(tempfile.mkdtemp(prefix="hm-retention-"))
        self.root = keep or self.temp
        self.pristine, self.work = self.root / "pristine", self.root / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.url = database_url
        if database_url:
            base, _, self.name = database_url.rpartition("/")
            self.work_url = f"{base}/{self.name}_work"

    def database_url(self) -> str | None:
        return self.work_url if self.url else None

    def _admin(self):  # PostgreSQL maintenance connection
        import psycopg

        base = self.url.rpartition("/")[0]
        return psycopg.connect(f"{base}/postgres", autocommit=True)

    def has_pristine(self) -> bool:
        if not self.url:
            return (self.pristine / "harbormaster.sqlite3").exists()
        with self._admin() as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.name]).fetchone() is not None

    def save_pristine(self) -> None:
        """The work database was just generated: keep it as the pristine copy."""
        from django.db import connections

        connections.close_all()
        if not self.url:
            self.pristine.mkdir(parents=True, exist_ok=True)
            _checkpoint(self.work / "harbormaster.sqlite3")
            shutil.copy(self.work / "harbormaster.sqlite3", self.pristine / "harbormaster.sqlite3")
            return
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.name}_work"')

    def fresh_copy(self) -> None:
        from django.conf import settings
        from django.db import connections

        if settings.configured:
            connections.close_all()
        if not self.url:
            for suffix in ("", "-wal", "-shm"):
                (self.work / f"harbormaster.sqlite3{suffix}").unlink(missing_ok=True)
            shutil.copy(self.pristine / "harbormaster.sqlite3", self.work / "harbormaster.sqlite3")
            return
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}_work" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.name}_work" TEMPLATE "{self.name}"')

    def empty_work(self) -> None:
        if self.url:
            with self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}_work" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{self.name}_work"')

    def clean(self) -> None:
        if self.temp:
            shutil.rmtree(self.temp, ignore_errors=True)


def _checkpoint(path: Path) -> None:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# --- The probe: an engine's writes, timed ---------------------------------------------------

def probe(work: str, database_url: str | None, stop: multiprocessing.synchronize.Event,
          out: multiprocessing.Queue) -> None:
    os.environ["HARBORMASTER_DATA_DIR"] = work
    os.environ.pop("DATABASE_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hosting.settings")
    os.environ.setdefault("HARBORMASTER_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    import logging

    # One JSON line per state change would bury the figures: the probe makes hundreds.
    logging.getLogger("harbormaster.tasks").setLevel(logging.WARNING)
    from hosting.actions import queue_task
    from hosting.engine import claim, ending, tasklog
    from hosting.engine.owner import Owner
    from hosting.models import Site

    site = Site.objects.get(domain="probe.example.test")
    owner = Owner.current()
    times: dict[str, list[float]] = {"enqueue": [], "claim": [], "log line": [], "end": [], "enqueue to running": []}
    failures: list[float] = []
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            task = queue_task(site, "verify")
            t1 = time.perf_counter()
            if claim.claim(task.pk, owner) is None:
                raise RuntimeError(f"task {task.pk} not claimed")
            t2 = time.perf_counter()
            tasklog.append(task.pk, "info", "probe")
            t3 = time.perf_counter()
            ending.end(task.pk, "succeeded", "probe", owner=owner)
            t4 = time.perf_counter()
        except Exception as exc:  # noqa: BLE001 - "database is locked" after the busy timeout is a result
            failures.append((time.perf_counter() - t0) * 1000)
            print(f"probe: {exc}", file=sys.stderr)
            continue
        for name, took in (("enqueue", t1 - t0), ("claim", t2 - t1), ("log line", t3 - t2), ("end", t4 - t3),
                           ("enqueue to running", t2 - t0)):
            times[name].append(took * 1000)
        time.sleep(PROBE_PAUSE)
    out.put(json.dumps({"times": times, "failures": failures}))


def probe_site() -> None:
    """A server of its own with room to run: the probe's claims never wait for a cap."""
    from hosting.models import Platform, Server, Site

    server, _ = Server.objects.get_or_create(name="probe", defaults={"queue": "probe", "max_running_tasks": 100})
    platform, _ = Platform.objects.get_or_create(name="probe", server=server,
                                                 defaults={"path": "/srv/probe", "status": "enabled"})
    Site.objects.get_or_create(domain="probe.example.test", platform=platform, defaults={"status": "enabled"})


class Probing:
    def __init__(self, store: Store) -> None:
        probe_site()  # in each round's copy: the generated data stays as bench/panel_pages.py has it
        context = multiprocessing.get_context("spawn")
        self.stop, self.out = context.Event(), context.Queue()
        self.process = context.Process(target=probe, args=(str(store.work), store.database_url(), self.stop, self.out))

    def __enter__(self) -> Probing:
        self.process.start()
        time.sleep(3)  # Django set-up in the child, and a few cycles before the work starts
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(1)
        self.stop.set()
        self.result = json.loads(self.out.get(timeout=120))
        self.process.join(timeout=30)


# --- Rounds ---------------------------------------------------------------------------------

def one_delete(days: int) -> dict[str, float]:
    """The same tasks in one transaction through Django's collector (`tasks clear`)."""
    from django.db import transaction

    from hosting import prune

    started = time.perf_counter()
    with transaction.atomic():
        count, per_model = prune.eligible(prune.cutoff_for(days)).delete()
    took = time.perf_counter() - started
    return {"rows": count, "seconds": took, "longest": took, "transactions": 1,
            "tasks": per_model.get("hosting.Task", 0)}


def batched(days: int, batch: int) -> dict[str, float]:
    from hosting import prune

    started = time.perf_counter()
    result = prune.prune(days, batch=batch)
    took = time.perf_counter() - started
    durations = sorted(result.durations)
    return {"rows": result.rows, "seconds": took, "longest": result.longest, "transactions": result.transactions,
            "tasks": result.tasks, "median txn": statistics.median(durations) if durations else 0.0,
            "p99 txn": durations[int(len(durations) * 0.99)] if durations else 0.0, "summary": prune.summary(result)}


def stats(values: list[float]) -> str:
    if not values:
        return "no sample"
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return (f"n={len(values):5d}  median {statistics.median(values):7.1f}  p99 {p99:7.1f}  "
            f"max {values[-1]:7.1f}  (min {values[0]:.1f}) ms")


def show(label: str, work: dict[str, float] | None, probed: dict) -> None:
    print(f"\n== {label}")
    if work:
        if "summary" in work:
            print(f"   {work['summary']}")
        line = (f"   {work['rows']:,} rows in {work['seconds']:.1f} s = {work['rows'] / work['seconds']:,.0f} rows/s; "
                f"{work['transactions']:,} transactions, longest {work['longest'] * 1000:.0f} ms")
        if "median txn" in work:
            line += f" (median {work['median txn'] * 1000:.1f} ms, p99 {work['p99 txn'] * 1000:.1f} ms)"
        print(line)
    for name, values in probed["times"].items():
        print(f"   probe {name:20} {stats(values)}")
    if probed["failures"]:
        print(f"   probe cycles that failed ('database is locked'): {len(probed['failures'])}, "
              f"after {', '.join(f'{ms / 1000:.1f}' for ms in probed['failures'])} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--older-than", type=int, default=7, help="days; the data spans 90")
    parser.add_argument("--batch", type=int, default=None, help="rows per transaction (default: hosting.prune's)")
    parser.add_argument("--idle-seconds", type=float, default=15)
    parser.add_argument("--skip-one-delete", action="store_true")
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--database-url")
    options = parser.parse_args()
    store = Store(options.keep, options.database_url)
    try:
        if not store.has_pristine():
            store.empty_work()
            scale_data.setup_django(store.work, store.database_url())
            scale_data.fill(options.sites, options.tasks, options.lines)
            store.save_pristine()
        else:
            store.fresh_copy()
            scale_data.setup_django(store.work, store.database_url())
        from hosting import prune

        batch = options.batch or prune.BATCH
        load = os.getloadavg()
        print(f"{'PostgreSQL' if options.database_url else 'SQLite'}; pruning tasks finished over "
              f"{options.older_than} days ago, {batch} rows per transaction; load average {load[0]:.2f}")

        store.fresh_copy()
        with Probing(store) as idle:
            time.sleep(options.idle_seconds)
        show("idle: nothing else runs (baseline)", None, idle.result)

        store.fresh_copy()
        with Probing(store) as during:
            work = batched(options.older_than, batch)
        show("batched: hosting.prune", work, during.result)

        if not options.skip_one_delete:
            store.fresh_copy()
            with Probing(store) as during_one:
                work_one = one_delete(options.older_than)
            show("one delete: the same tasks in one transaction (as `tasks clear`)", work_one, during_one.result)
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    finally:
        store.clean()


if __name__ == "__main__":
    main()
