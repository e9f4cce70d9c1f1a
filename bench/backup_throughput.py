"""Backup throughput against `tar -cf - DIR | zstd -T0 -3` on the same data in the same run.

Builds a site directory of --files files totalling --size-mb (half incompressible like images,
half text like CSS/JS/HTML), warms the page cache, then alternates the two for --rounds rounds
and prints the median time and MB/s of each and the ratio of throughputs (ours / tar|zstd; the
goal is at least 0.9). Ours is provision.backup.create_backup, what a site.backup task runs: tar
headers, sha256 of every file and of the archive, the manifest, fsync and rename.

    .venv/bin/python bench/backup_throughput.py                     # 1 GiB in 10,000 files
    .venv/bin/python bench/backup_throughput.py --size-mb 128 --files 1250 --rounds 3   # quick

Everything is generated in a temporary directory (or under --dir) and removed at the end.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _setup import fill_files, median, timed

from provision.backup import create_backup
from provision.runner import Runner


def tar_zstd(site: Path, out: Path) -> None:
    with open(out, "wb") as sink:
        tar = subprocess.Popen(["tar", "-cf", "-", "-C", str(site.parent), site.name], stdout=subprocess.PIPE)
        zstd = subprocess.run(["zstd", "-q", "-T0", "-3", "-c"], stdin=tar.stdout, stdout=sink, check=True)
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
        assert zstd.returncode == 0 and tar.returncode == 0


def ours(site: Path, dest: Path) -> int:
    result = create_backup(domain="bench.example.com", site_dir=site, dest_dir=dest,
                           runner=Runner(lambda level, line: None), db_driver=None, db_name=None,
                           follow_files_symlink=True)
    size = result.size
    result.path.unlink()
    return size


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
        tar_zstd(site, work / "warm.tar.zst")  # page cache, for both
        tar_times: list[float] = []
        our_times: list[float] = []
        our_size = 0
        for _ in range(args.rounds):  # alternated, so both see the same machine state
            tar_times.append(timed(lambda: tar_zstd(site, work / "tar.tar.zst")))
            started = time.perf_counter()
            our_size = ours(site, work / "out")
            our_times.append(time.perf_counter() - started)
        tar_size = (work / "tar.tar.zst").stat().st_size
        tar_med, our_med = median(tar_times), median(our_times)
        mb = size / 1e6
        print(f"data: {args.size_mb} MiB in {args.files} files, {os.cpu_count()} CPUs, {args.rounds} rounds (median)")
        print(f"tar -cf - | zstd -T0 -3: {tar_med:6.2f} s  {mb / tar_med:7.1f} MB/s  -> {tar_size} bytes"
              f"  (runs: {', '.join(f'{t:.2f}' for t in tar_times)})")
        print(f"create_backup:           {our_med:6.2f} s  {mb / our_med:7.1f} MB/s  -> {our_size} bytes"
              f"  (runs: {', '.join(f'{t:.2f}' for t in our_times)})")
        print(f"ratio (ours / tar|zstd throughput): {tar_med / our_med:.2f}  (goal >= 0.90)")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
