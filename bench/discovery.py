"""Platform discovery: a platform.verify task (through the engine, in this process) on a
platform with --sites sites on disk and no records: it inspects the platform, reads every
sites/*/settings.php without PHP, imports each site as a record and queues its verify. The goal
is under 10 s for 1,000 sites. Baselines in the same run: `find sites -name settings.php`, and
provision's scan alone (no records).

    .venv/bin/python bench/discovery.py                    # 1,000 sites, 3 rounds
    .venv/bin/python bench/discovery.py --sites 200 --rounds 2   # quick

The instance (SQLite control database), the platform and its site databases live in a temporary
directory that is removed at the end.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _setup import django_in, median, run_task, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hm-bench-discovery-", dir=args.dir))
    try:
        django_in(work)
        from django.utils import timezone

        from hosting.inventory import local_server
        from hosting.models import Platform, Site, Task
        from provision.demo import make_platform
        from provision.platform import scan_sites

        started = time.perf_counter()
        root = make_platform(work / "platforms" / "big", sites=args.sites, db_dir=work / "data" / "databases")
        print(f"built a platform with {args.sites} sites in {time.perf_counter() - started:.1f} s")
        platform = Platform.objects.create(name="big", server=local_server(), path=str(root),
                                           verified_at=timezone.now())
        sites = root / "sites"
        find_times, scan_times, verify_times = [], [], []
        for _ in range(args.rounds):
            find_times.append(timed(lambda: subprocess.run(
                ["find", str(sites), "-mindepth", "2", "-maxdepth", "2", "-name", "settings.php"],
                check=True, capture_output=True)))
            scan_times.append(timed(lambda: scan_sites(root)))
            Site.objects.all().delete()
            Task.objects.filter(target_type="site").delete()
            started = time.perf_counter()
            run_task(platform, "verify", {"adopt_databases": True})  # the demo databases are the sites' own
            verify_times.append(time.perf_counter() - started)
            imported = Site.objects.filter(platform=platform, imported=True).count()
            queued = Task.objects.filter(target_type="site", kind="verify", state="queued").count()
            assert imported == args.sites and queued == args.sites, (imported, queued)
        v = median(verify_times)
        print(f"{args.sites} sites, {args.rounds} rounds (median)")
        print(f"find sites -name settings.php:          {median(find_times):7.3f} s")
        print(f"provision scan (read every settings.php): {median(scan_times):7.3f} s")
        print(f"platform.verify task (import + queue verifies): {v:7.3f} s  "
              f"(runs: {', '.join(f'{t:.2f}' for t in verify_times)}; goal < 10 s)")
        print(f"ratio verify / scan: {v / median(scan_times):.1f}x; per site: {v / args.sites * 1000:.1f} ms")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
