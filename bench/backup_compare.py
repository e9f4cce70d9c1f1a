"""Our backups side by side with `tar | zstd -T0`, borg and restic on the same data in one run;
the standard export, and restore throughput against `tar -x` of that export.

Builds a Drupal-shaped site (web/sites/bench.example.com: settings.php, files/ with styles/,
inline-images/ and --files files totalling --size-mb, half incompressible like images, half text
like CSS/JS; mtimes a minute back) and a --dump-mb SQL dump beside it (INSERT lines, as mysqldump
writes). Every tool backs up the site directory and a fresh dump of the same bytes: before each
run of tar, borg and restic the dump file is written again (as a backup script dumps the
database each time; their caches see a new file), and ours gets it through a database driver
that copies the same file (one copy each: the engine's own dump cost is left out for everyone).
Per round, each into a new, empty repository:

  tar|zstd   tar -cf - SITE DUMP | zstd -T0 -3
  ours       provision.backup.create_incremental (what site.backup runs), first, then a second
             backup with nothing changed
  borg       borg init -e none; borg create --compression zstd,3 (first, second)
  restic     restic init (a password file); restic backup (first, second)
  export     python -m provision.backup.export DIR ARCHIVE -o x.tar.zst (peak RSS from wait4)
  restore    provision.backup.restore_backup of the first backup into a new directory, against
             tar --zstd -xf of the export into a new directory

The page cache is warm for all (the data was just written and read once); dirty pages are
written back before each timed step. Medians over --rounds, spread, ratios to borg in the same
run (goals: our first no slower than borg's first, our second at most 0.2 of borg's second).

    .venv/bin/python bench/backup_compare.py --size-mb 400 --files 4000 --dump-mb 80 --rounds 3
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _setup import REPO, WORDS, fill_files, median

from provision.backup import create_incremental, restore_backup
from provision.runner import Runner

DOMAIN = "bench.example.com"
QUIET = Runner(lambda level, line: None)


class DumpFile:
    """A database driver whose dump is a copy of an existing file: ours dumps the same bytes the
    others get, at the cost of one copy, as theirs (fresh_dump)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server = SimpleNamespace(engine="mariadb")

    def dump(self, name: str, out: Any, runner: Runner) -> None:
        with open(self.path, "rb") as source:
            shutil.copyfileobj(source, out, 1 << 20)


def build(work: Path, size_mb: int, count: int, dump_mb: int) -> tuple[Path, Path]:
    site = work / "web" / "sites" / DOMAIN
    files = site / "files"
    fill_files(files / "bulk", size_mb << 20, count)
    rng = random.Random(7)
    for style in ("thumbnail", "medium", "large"):
        folder = files / "styles" / style / "public"
        folder.mkdir(parents=True)
        for n in range(50):
            (folder / f"photo-{n}.jpg").write_bytes(rng.randbytes(20_000))
    (files / "inline-images").mkdir()
    (files / "inline-images" / "banner.png").write_bytes(rng.randbytes(500_000))
    (files / "css").mkdir()
    (files / "css" / "css_aggregate.css").write_bytes(b".block { display: none; }\n" * 20_000)
    (site / "settings.php").write_text("<?php\n$databases['default']['default'] = ['database' => 'bench'];\n"
                                       "$settings['hash_salt'] = 'x';\n")
    (site / "services.yml").write_text("parameters: {}\n")
    dump = work / "master" / "database.sql"
    dump.parent.mkdir()
    with open(dump, "wb") as out:
        out.write(b"-- MariaDB dump\nCREATE TABLE `node_field_data` (`nid` int, `title` varchar(255), "
                  b"`body` longtext);\n")
        written, nid = 0, 0
        while written < dump_mb << 20:
            rows = []
            for _ in range(100):
                nid += 1
                body = b" ".join(rng.choice(WORDS) for _ in range(60))
                rows.append(b"(%d,'node %d','%s')" % (nid, nid, body))
            line = b"INSERT INTO `node_field_data` VALUES " + b",".join(rows) + b";\n"
            out.write(line)
            written += len(line)
    past = time.time() - 60
    for folder, _dirs, names in os.walk(work):
        for name in names:
            os.utime(os.path.join(folder, name), (past, past))
    return site, dump


def fresh_dump(master: Path, dump: Path) -> None:
    """What a backup script does before borg, restic or tar: dump the database again (same
    content, a new file: their caches see it changed and read it again, as in real use)."""
    dump.unlink(missing_ok=True)
    shutil.copyfile(master, dump)


def settle() -> None:
    os.sync()
    time.sleep(1)


def timed(fn: Callable[[], Any]) -> float:
    settle()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   env={**os.environ, **(env or {})})


def tar_zstd(site: Path, dump: Path, out: Path) -> None:
    with open(out, "wb") as sink:
        tar = subprocess.Popen(["tar", "-cf", "-", "-C", str(site.parent), site.name, "-C", str(dump.parent),
                                dump.name], stdout=subprocess.PIPE)
        subprocess.run(["zstd", "-q", "-T0", "-3", "-c"], stdin=tar.stdout, stdout=sink, check=True)
        assert tar.stdout is not None
        tar.stdout.close()
        assert tar.wait() == 0


def ours(site: Path, dump: Path, dest: Path, minutes: int) -> Path:
    import datetime as dt

    result = create_incremental(domain=DOMAIN, site_dir=site, dest_dir=dest, runner=QUIET,
                                db_driver=DumpFile(dump), db_name="bench",  # type: ignore[arg-type]
                                follow_files_symlink=True,
                                now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes))
    return result.path


def export(dest: Path, archive: Path, out: Path) -> int:
    """Run the panel-free export; returns its peak RSS in KiB."""
    child = subprocess.Popen([sys.executable, "-m", "provision.backup.export", str(dest), archive.name, "-o", str(out)],
                             cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_maxrss


def one_round(r: Path, rnd: int, site: Path, dump: Path, password: Path, times: dict[str, list[float]],
              sizes: dict[str, int], rss: list[int]) -> None:
    r.mkdir()
    borg_env = {"BORG_BASE_DIR": str(r / "borg-base"), "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
                "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes"}
    restic = ["restic", "--repo", str(r / "restic"), "--password-file", str(password), "--quiet"]
    restic_env = {"RESTIC_CACHE_DIR": str(r / "restic-cache")}
    fresh = dump.parent.parent / "dump" / "database.sql"  # what tar, borg and restic archive
    fresh.parent.mkdir(exist_ok=True)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("tar|zstd -T0", lambda: (fresh_dump(dump, fresh), tar_zstd(site, fresh, r / "tar.tar.zst"))),
        ("ours first", lambda: ours(site, dump, r / "ours", 0)),
        ("ours second", lambda: ours(site, dump, r / "ours", 1)),
        ("borg first", lambda: (run(["borg", "init", "-e", "none", str(r / "borg")], borg_env), fresh_dump(dump, fresh),
                                run(["borg", "create", "--compression", "zstd,3", f"{r / 'borg'}::first",
                                     str(site), str(fresh)], borg_env))),
        ("borg second", lambda: (fresh_dump(dump, fresh),
                                 run(["borg", "create", "--compression", "zstd,3", f"{r / 'borg'}::second",
                                      str(site), str(fresh)], borg_env))),
        ("restic first", lambda: (run([*restic, "init"], restic_env), fresh_dump(dump, fresh),
                                  run([*restic, "backup", str(site), str(fresh)], restic_env))),
        ("restic second", lambda: (fresh_dump(dump, fresh),
                                   run([*restic, "backup", str(site), str(fresh)], restic_env))),
    ]
    if rnd % 2:  # the others first in odd rounds: neither side always gets the fresher cache
        steps = steps[3:] + steps[:3]
    for name, step in steps:
        times.setdefault(name, []).append(timed(step))
    first = min((r / "ours").glob("*.tar.zst"))
    out = r / "export.tar.zst"
    settle()
    started = time.perf_counter()
    rss.append(export(r / "ours", first, out))
    times.setdefault("export (.tar.zst)", []).append(time.perf_counter() - started)
    (r / "restored").mkdir()
    (r / "untarred").mkdir()
    times.setdefault("restore ours", []).append(
        timed(lambda: restore_backup(first, r / "restored" / DOMAIN, None, None, QUIET)))
    times.setdefault("tar -x of the export", []).append(
        timed(lambda: run(["tar", "--zstd", "-xf", str(out), "-C", str(r / "untarred")])))
    for name, path in (("tar|zstd -T0", r / "tar.tar.zst"), ("ours", r / "ours"), ("borg", r / "borg"),
                       ("restic", r / "restic"), ("export", out)):
        sizes[name] = du(path) if path.is_dir() else path.stat().st_size
    shutil.rmtree(r, ignore_errors=True)


def fmt(times: list[float]) -> str:
    return f"{median(times):6.2f} s ({min(times):.2f}-{max(times):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=400)
    parser.add_argument("--files", type=int, default=4000)
    parser.add_argument("--dump-mb", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temp dir)")
    args = parser.parse_args()
    for program in ("tar", "zstd", "borg", "restic"):
        if shutil.which(program) is None:
            sys.exit(f"{program} is not installed (Debian: tar zstd borgbackup restic)")
    work = Path(tempfile.mkdtemp(prefix="hm-bench-compare-", dir=args.dir))
    times: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    rss: list[int] = []
    try:
        site, dump = build(work / "data", args.size_mb, args.files, args.dump_mb)
        data_bytes = du(site) + dump.stat().st_size
        password = work / "restic-password"
        password.write_text("bench-only\n")
        tar_zstd(site, dump, work / "warm.tar.zst")  # the page cache, for all
        (work / "warm.tar.zst").unlink()
        for rnd in range(args.rounds):
            one_round(work / f"round-{rnd}", rnd, site, dump, password, times, sizes, rss)
        mb = data_bytes / 1e6
        print(f"data: {data_bytes:,} bytes ({args.files + 153} files, dump {dump.stat().st_size:,} bytes); "
              f"rounds: {args.rounds}; load average at the end: {os.getloadavg()}")
        borg1, borg2 = median(times["borg first"]), median(times["borg second"])
        for name, values in times.items():
            ratio = ""
            if name.endswith("first") or name.startswith("tar|"):
                ratio = f"  {median(values) / borg1:.2f} of borg's first"
            elif name.endswith("second"):
                ratio = f"  {median(values) / borg2:.3f} of borg's second"
            print(f"{name:22} {fmt(values)}  {mb / median(values):7.1f} MB/s{ratio}")
        print(f"restore ours / tar -x: {median(times['restore ours']) / median(times['tar -x of the export']):.2f} "
              f"(time)")
        print(f"export peak RSS: {max(rss) / 1024:.1f} MiB (max of {len(rss)}); stored bytes after two backups: "
              + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
        print(f"ours first / borg first: {median(times['ours first']) / borg1:.2f} (goal <= 1); "
              f"ours second / borg second: {median(times['ours second']) / borg2:.3f} (goal <= 0.2)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
