"""Migrate and clone times against Aegir's archive-and-extract and `cp -a` of the same site
directory, in the same run.

Installs a site (site.install through the engine, SQLite site database) on a demo platform, adds
--files files totalling --size-mb to its files/, then for --rounds rounds alternates:
archive-and-extract of the site directory (what Aegir's migrate does: `tar -cf - | zstd -T0`
into an archive, then `zstd -d | tar -x` into the target), `cp -a` of the site directory,
site.migrate to the other platform (a database-only pre-migrate backup, a rename, settings.php,
drush updatedb, vhost, verify), and site.clone to a new domain
(cp -a --reflink=auto, a new database loaded from a dump, drush, verify). Prints the median of
each, the ratio to cp -a, and the median time of each step (from the task's step rows).

    .venv/bin/python bench/migrate_clone.py --size-mb 2048 --files 10000 --rounds 3   # headline
    .venv/bin/python bench/migrate_clone.py --size-mb 128 --files 1250 --rounds 3   # quick

Everything lives in a temporary directory that is removed at the end (and nothing before: see
settle()). The copy and the clone alternate which goes first.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _setup import django_in, fill_files, median, run_task


def settle() -> None:
    """Write back what earlier runs left dirty, so that no timed run pays for another's. Nothing
    is deleted until the end: ext4 searches past recently deleted inodes when it creates files,
    so deleting one run's 10,000 files would slow the next run's creation of as many."""
    subprocess.run(["sync"], check=True)
    time.sleep(1)


def step_times(task, into: dict[str, list[float]]) -> None:  # type: ignore[no-untyped-def]
    for row in task.steps.order_by("position"):
        if row.started_at and row.finished_at:
            into[row.name].append((row.finished_at - row.started_at).total_seconds())


def archive_and_extract(source: Path, archive: Path, target: Path) -> None:
    """Aegir's way of moving a site: the whole directory into an archive, extracted elsewhere."""
    with open(archive, "wb") as sink:
        tar = subprocess.Popen(["tar", "-cf", "-", "-C", str(source.parent), source.name], stdout=subprocess.PIPE)
        subprocess.run(["zstd", "-q", "-T0", "-3", "-c"], stdin=tar.stdout, stdout=sink, check=True)
        assert tar.stdout is not None
        tar.stdout.close()
        assert tar.wait() == 0
    target.mkdir()
    unzstd = subprocess.Popen(["zstd", "-q", "-d", "-c", str(archive)], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-xf", "-", "-C", str(target)], stdin=unzstd.stdout, check=True)
    assert unzstd.stdout is not None
    unzstd.stdout.close()
    assert unzstd.wait() == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hm-bench-migrate-", dir=args.dir))
    try:
        django_in(work)
        from django.utils import timezone

        from hosting.inventory import add_site, local_server
        from hosting.models import Platform, Site
        from hosting.operations import resources
        from provision.demo import VERSIONS, make_platform

        server = local_server()
        platforms = []
        for name in ("p1", "p2"):
            root = make_platform(work / "platforms" / name)
            platforms.append(Platform.objects.create(
                name=name, server=server, path=str(root), docroot=str(root), status="enabled",
                drupal_version=VERSIONS[10], verified_at=timezone.now()))
        site, task = add_site("bench.example.com", platforms[0])
        from hosting.engine.worker import execute

        execute(task.pk)
        site.refresh_from_db()
        directory = resources.site_dir(site)
        fill_files(directory / "files", args.size_mb << 20, args.files)
        for path in directory.rglob("*"):  # into the page cache, for all
            if path.is_file():
                path.read_bytes()

        cp_times, migrate_times, clone_times, aegir_times = [], [], [], []
        migrate_steps: dict[str, list[float]] = defaultdict(list)
        clone_steps: dict[str, list[float]] = defaultdict(list)
        clones: list[Site] = []
        for number in range(args.rounds):
            site.refresh_from_db()
            source = resources.site_dir(site)

            # This round's source and number are bound now: the functions run within the round anyway.
            def plain_copy(source: Path = source, number: int = number) -> None:
                settle()
                started = time.perf_counter()
                subprocess.run(["cp", "-a", str(source), str(work / f"cp-copy-{number}")], check=True)
                cp_times.append(time.perf_counter() - started)

            def clone(number: int = number) -> None:
                settle()
                domain = f"clone{number}.example.com"
                started = time.perf_counter()
                task = run_task(site, "clone", {"domain": domain})
                clone_times.append(time.perf_counter() - started)
                step_times(task, clone_steps)
                clones.append(Site.objects.get(domain=domain))

            # The copy and the clone take turns going first: both create as many files, and
            # whichever runs second finds the page cache and the disk as the first left them.
            for run in ((plain_copy, clone) if number % 2 == 0 else (clone, plain_copy)):
                run()

            settle()
            started = time.perf_counter()
            archive_and_extract(source, work / f"aegir-{number}.tar.zst", work / f"aegir-target-{number}")
            aegir_times.append(time.perf_counter() - started)

            target = platforms[1] if site.platform_id == platforms[0].pk else platforms[0]
            settle()
            started = time.perf_counter()
            task = run_task(site, "migrate", {"platform": target.pk})
            migrate_times.append(time.perf_counter() - started)
            step_times(task, migrate_steps)
        for clone_site in clones:
            resources.db_driver(server).drop_database(clone_site.db_name)

        cp, aegir = median(cp_times), median(aegir_times)
        print(f"site: {args.size_mb} MiB in {args.files} files; {args.rounds} rounds (median, min-max)")
        print(f"archive-and-extract (Aegir): {aegir:7.2f} s  ({min(aegir_times):.2f}-{max(aegir_times):.2f})")
        print(f"cp -a:   {cp:7.2f} s  ({min(cp_times):.2f}-{max(cp_times):.2f})")
        for name, times, steps in (("migrate", migrate_times, migrate_steps), ("clone", clone_times, clone_steps)):
            m = median(times)
            print(f"{name}: {m:7.2f} s ({min(times):.2f}-{max(times):.2f}) = {m / cp:.3f}x cp -a, "
                  f"{m / aegir:.3f}x archive-and-extract")
            print("    steps: " + ", ".join(f"{k} {median(v):.2f}" for k, v in steps.items()))
        copy = clone_steps["copy"]
        print(f"clone's copy step: {median(copy):7.2f} s ({min(copy):.2f}-{max(copy):.2f}) = "
              f"{median(copy) / cp:.3f}x cp -a (goal <= 1)")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
