"""A pytest plugin that appends each test's phases (setup, call, teardown) to a JSON-lines file,
so a run's time can be split per file and per test while it is still running.

    HM_DURATIONS=/tmp/pg.jsonl PYTHONPATH=. .venv/bin/python -m pytest -p bench.pytest_durations ...
    .venv/bin/python bench/pytest_durations.py /tmp/pg.jsonl [--tests N]   # per-file totals

Relative shares are what to read on a loaded machine: absolute seconds grow with the load."""
from __future__ import annotations

import json
import os
import sys
from collections import defaultdict


def pytest_runtest_logreport(report) -> None:  # type: ignore[no-untyped-def]
    path = os.environ.get("HM_DURATIONS")
    if not path:
        return
    with open(path, "a") as out:
        out.write(json.dumps({"id": report.nodeid, "when": report.when,
                              "outcome": report.outcome, "s": round(report.duration, 3)}) + "\n")


def summarise(path: str, top: int) -> None:
    per_file: dict[str, float] = defaultdict(float)
    per_test: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    with open(path) as lines:
        for line in lines:
            row = json.loads(line)
            name = row["id"].split("::")[0]
            per_file[name] += row["s"]
            per_test[row["id"]] += row["s"]
            if row["when"] == "call":
                count[name] += 1
    total = sum(per_file.values())
    print(f"total {total:.0f} s in {sum(count.values())} tests")
    for name, secs in sorted(per_file.items(), key=lambda kv: -kv[1]):
        print(f"{secs:8.1f} {100 * secs / total:5.1f}% {count[name]:4d}  {name}")
    if top:
        print()
        for test, secs in sorted(per_test.items(), key=lambda kv: -kv[1])[:top]:
            print(f"{secs:8.1f}  {test}")


if __name__ == "__main__":
    args = sys.argv[1:]
    top = int(args[args.index("--tests") + 1]) if "--tests" in args else 0
    summarise(args[0], top)
