"""How long a worker cluster takes to stop, for each way a stop reaches it (issue 22).

    .venv/bin/python bench/stop_latency.py [--database sqlite|postgresql|URL] [--rounds 5]
        [--give-up 30]

A real `manage.py qcluster` (production settings, 2 workers) runs in its own session, as
`setsid` starts it, on a fresh instance. Once it has registered and its workers are up, one of:
- group SIGTERM: `kill -TERM -- -$P` (systemd's KillMode=control-group, GNU `timeout`),
- group SIGINT: `kill -INT -- -$P` (Ctrl-C in a terminal),
- main SIGTERM: `kill -TERM $P` (KillMode=mixed, `manage.py serve`),
and the time until the whole process group is gone is measured. A cluster still there after
GIVE_UP seconds counts as hung: the group is SIGKILLed and the round reported as such. Medians
over ROUNDS rounds per stop; the main-process SIGTERM is the baseline the group stops are
compared with."""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

from fleet import BASE, cluster_env, instance

STOPS = {
    "group SIGTERM": (signal.SIGTERM, True),
    "group SIGINT": (signal.SIGINT, True),
    "main SIGTERM": (signal.SIGTERM, False),
}


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def one_stop(sig: int, whole_group: bool, give_up: float) -> float | None:
    """Seconds from the signal until no process of the cluster's group is left (None: hung)."""
    from hosting.models import Cluster

    env = {**os.environ, **cluster_env(2)}
    proc = subprocess.Popen([sys.executable, str(BASE / "manage.py"), "qcluster"], cwd=BASE, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        ready = time.monotonic() + 60
        while not Cluster.objects.filter(pid=proc.pid, stopped_at__isnull=True).exists():
            if time.monotonic() > ready or proc.poll() is not None:
                raise SystemExit("the cluster did not register")
            time.sleep(0.1)
        time.sleep(2)  # the workers are forked and waiting for work
        sent = time.monotonic()
        if whole_group:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        while time.monotonic() - sent < give_up:
            proc.poll()
            if proc.returncode is not None and not group_alive(proc.pid):
                return time.monotonic() - sent
            time.sleep(0.02)
        return None
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--give-up", type=float, default=30.0)
    options = parser.parse_args()
    instance(options.database, 1.0, "hm-stop-")
    from hosting.inventory import local_server

    local_server()
    times: dict[str, list[float]] = {name: [] for name in STOPS}
    hung: dict[str, int] = dict.fromkeys(STOPS, 0)
    for _ in range(options.rounds):
        for name, (sig, whole_group) in STOPS.items():  # interleaved: load drifts hit all alike
            took = one_stop(sig, whole_group, options.give_up)
            if took is None:
                hung[name] += 1
            else:
                times[name].append(took)
    base = statistics.median(times["main SIGTERM"]) if times["main SIGTERM"] else None
    for name in STOPS:
        if not times[name]:
            print(f"{name}: hung in all {hung[name]} rounds (given up after {options.give_up:g} s)")
            continue
        median = statistics.median(times[name])
        ratio = f", {median / base:.2f}x main SIGTERM" if base else ""
        print(f"{name}: median {median:.2f} s (min {min(times[name]):.2f}, max {max(times[name]):.2f}) "
              f"over {len(times[name])} rounds{ratio}; hung {hung[name]}")


if __name__ == "__main__":
    main()
