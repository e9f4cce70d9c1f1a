"""Backup throughput against `tar -cf - DIR | zstd -T0 -3` on the same data in the same run,
and the incremental second backup against the first.

Builds a site directory of --files files totalling --size-mb (half incompressible like images,
half text like CSS/JS/HTML; mtimes set a minute back, as a real site's files are), warms the page
cache, then for --rounds rounds runs: tar|zstd, a first backup into a new, empty backup directory
(provision.backup.create_incremental, what a site.backup task runs: sha256 and zstd of every file
into the object store's packs, each fsynced, the manifest, the archive, fsync, rename) and a second backup of
the same unchanged data into the same directory. Prints the median and spread of each, the
throughput ratio first/tar (goal >= 0.9) and the time ratio second/first (goal < 0.10).

    .venv/bin/python bench/backup_throughput.py --size-mb 2048 --files 10000 --rounds 3   # headline
    .venv/bin/python bench/backup_throughput.py --size-mb 128 --files 1250 --rounds 3     # quick

Everything is generated in a temporary directory (or under --dir) and removed at the end.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

from _setup import fill_files, median, timed

from provision.backup import create_incremental
from provision.runner import Runner


def tar_zstd(site: Path, out: Path) -> None:
    with open(out, "wb") as sink:
        tar = subprocess.Popen(["tar", "-cf", "-", "-C", str(site.parent), site.name], stdout=subprocess.PIPE)
        zstd = subprocess.run(["zstd", "-q", "-T0", "-3", "-c"], stdin=tar.stdout, stdout=sink, check=True)
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
        assert zstd.returncode == 0 and tar.returncode == 0


def incremental(site: Path, dest: Path) -> int:
    result = create_incremental(domain="bench.example.com", site_dir=site, dest_dir=dest,
                                runner=Runner(lambda level, line: None), db_driver=None, db_name=None,
                                follow_files_symlink=True)
    return result.manifest["totals"]["stored_bytes"] + result.size


def settle() -> None:
    """Write back what earlier runs left dirty, so that no timed run pays for another's."""
    os.sync()
    time.sleep(1)


def spread(times: list[float]) -> str:
    return f"median {median(times):6.2f} s (min {min(times):.2f}, max {max(times):.2f}; runs: " \
           f"{', '.join(f'{t:.2f}' for t in times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temp dir)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hm-bench-backup-", dir=args.dir))
    try:
        site = work / "bench.example.com"
        size = args.size_mb << 20
        fill_files(site / "files", size, args.files)
        (site / "settings.php").write_text("<?php\n$databases = [];\n")
        past = time.time() - 60
        for folder, _dirs, names in os.walk(site):
            for name in names:
                os.utime(os.path.join(folder, name), (past, past))
        tar_zstd(site, work / "warm.tar.zst")  # page cache, for all
        tar_times: list[float] = []
        first_times: list[float] = []
        second_times: list[float] = []
        stored = 0
        for n in range(args.rounds):  # alternated, so all see the same machine state
            # Every run writes new files, and starts with nothing dirty left by the one before:
            # deleting or overwriting the previous run's output just before a timed run would
            # charge it for the other's page-cache and discard work.
            dest = work / f"backups-{n}"

            # This round's n and dest are bound now: the functions run within the round anyway.
            def baseline(n: int = n) -> None:
                settle()
                tar_times.append(timed(partial(tar_zstd, site, work / f"tar-{n}.tar.zst")))

            def first(dest: Path = dest) -> None:
                nonlocal stored
                settle()
                started = time.perf_counter()
                stored = incremental(site, dest)
                first_times.append(time.perf_counter() - started)

            # Which goes first alternates too: the second of two runs finds more memory taken.
            for run in ((baseline, first) if n % 2 == 0 else (first, baseline)):
                run()
            settle()
            second_times.append(timed(lambda dest=dest: incremental(site, dest)))
        tar_size = (work / "tar-0.tar.zst").stat().st_size
        tar_med, first_med, second_med = median(tar_times), median(first_times), median(second_times)
        mb = size / 1e6
        print(f"data: {args.size_mb} MiB in {args.files} files, {os.cpu_count()} CPUs, {args.rounds} rounds")
        print(f"tar -cf - | zstd -T0 -3:  {spread(tar_times)}  {mb / tar_med:7.1f} MB/s -> {tar_size} bytes")
        print(f"first backup (format 2):  {spread(first_times)}  {mb / first_med:7.1f} MB/s -> {stored} bytes")
        print(f"second backup, unchanged: {spread(second_times)}")
        print(f"ratio first backup / tar|zstd throughput: {tar_med / first_med:.2f}  (goal >= 0.90)")
        print(f"ratio second / first backup time: {second_med / first_med:.3f}  (goal < 0.10)")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
