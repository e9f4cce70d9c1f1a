"""What a platform build costs beyond git and composer themselves: a platform.build task (clone of
a tag of a local bare repository, composer install from a path repository, verify, record) run
through the engine in this process, against a plain `git clone --depth 1 --branch TAG` of the same
repository (plus `composer install` for the composer project) as the baseline, in the same run.

    .venv/bin/python bench/platform_build.py [--runs 7] [--files 2000]

FILES adds that many small files to the repository (a real Drupal core has about 20,000), so the
link check's walk of the checkout shows. Prints medians in seconds and the ratio."""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._setup import django_in  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--files", type=int, default=2000)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hm-bench-build-"))
    try:
        django_in(work)
        run(work, opts.runs, opts.files)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bulk(work_tree: Path, count: int) -> None:
    for i in range(count):
        folder = work_tree / "web" / "core" / "modules" / f"m{i // 200:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:05d}.php").write_text(f"<?php\n// file {i}\n" + "x" * 400)


def run(work: Path, runs: int, files: int) -> None:
    from hosting.engine.worker import execute
    from hosting.platformbuild import start_build
    from tests.gitrepos import commit_all, drupal_repository, git, push

    bare, tree = drupal_repository(work / "repos", composer=True, name="bench")
    _bulk(tree, files)
    commit_all(tree, "bulk")
    git("tag", "v3", cwd=tree)
    push(tree, bare, "HEAD:main", "v3")
    env = {**os.environ, "COMPOSER_HOME": str(work / "ch"), "COMPOSER_ALLOW_SUPERUSER": "1"}
    baseline, builds = [], []
    steps: dict[str, list[float]] = {}
    for n in range(runs):
        dest = work / f"plain{n}"
        started = _now()
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", "v3", str(bare), str(dest)],
                       check=True, env=env)
        subprocess.run(["composer", "install", "--no-dev", "--no-interaction", "--no-progress", "--no-scripts",
                        "--quiet"], cwd=dest, check=True, env=env)
        baseline.append(_now() - started)
        started = _now()
        _platform, task = start_build("bench", repository=str(bare), ref="v3", name=f"b{n}")
        execute(task.pk)
        builds.append(_now() - started)
        task.refresh_from_db()
        assert task.state == "succeeded", task.summary
        for row in task.steps.all():
            steps.setdefault(row.name, []).append((row.finished_at - row.started_at).total_seconds())
    base, built = statistics.median(baseline), statistics.median(builds)
    print(f"repository: Drupal-shaped composer project + {files} files; {runs} runs each")
    print(f"git clone --depth 1 + composer install: median {base:.2f} s")
    print(f"platform.build task (start, clone, links, composer, verify, record): median {built:.2f} s")
    print(f"ratio {built / base:.2f}, overhead {built - base:+.2f} s")
    print("steps (median s): " + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in steps.items()))


def _now() -> float:
    import time

    return time.perf_counter()


if __name__ == "__main__":
    main()
