"""What an idle worker cluster costs, and what its registry beat adds to that (issue 13: every
cluster records itself and beats once per heartbeat; issue 20 wants an idle cluster under 1% of a
core).

    .venv/bin/python bench/idle_cost.py [--database sqlite|postgresql|URL] [--seconds 60]
        [--beats 2000] [--heartbeat 5]

1. The beat alone, in this process: the statements one beat sends (one UPSERT), and the wall
   and CPU time of BEATS beats (median per beat); on PostgreSQL also the CPU of the server process
   that ran them (psutil on the backend's pid: the server is on this machine). The beat's share
   of a core is that cost divided by the heartbeat.
2. A real idle `qcluster` (production settings: poll 0.1 s, 2 workers) on a fresh instance: the
   CPU of its whole process tree (main, sentinel, workers, pusher, monitor) over SECONDS, as a
   share of one core. Nothing is queued; the beat is part of it."""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

import psutil
from fleet import BASE, cluster_env, instance


def tree_cpu(root: psutil.Process) -> float:
    return sum(per_process(root).values())


def per_process(root: psutil.Process) -> dict[str, float]:
    """CPU time (user + system, with reaped children's) of each process of ROOT's tree, by role.
    django-q2's sentinel forks its workers, then the monitor, then the pusher: in pid order."""
    found: dict[str, float] = {}
    children = sorted(root.children(recursive=True), key=lambda p: p.pid)
    sentinel = [p for p in children if p.ppid() == root.pid]
    below = [p for p in children if p not in sentinel]
    roles = [(root, "main"), *((p, "sentinel") for p in sentinel)]
    roles += [(p, "worker" if i < len(below) - 2 else ("monitor", "pusher")[i - len(below) + 2])
              for i, p in enumerate(below)]
    for proc, role in roles:
        try:
            times = proc.cpu_times()
            found[f"{role} {proc.pid}"] = times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            continue
    return found


def beat_cost(beats: int, heartbeat: float) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from hosting.engine import registry
    from hosting.engine.owner import Owner

    reg = registry.Registration(queue="bench", workers=2, owner=Owner("bench-host", 4242, 1.0), instance="bench")
    registry.beat(reg)  # the row exists: every later beat is the UPDATE branch, as in a cluster
    with CaptureQueriesContext(connection) as captured:
        registry.beat(reg)
    print(f"statements per beat: {len(captured)} ({captured[0]['sql'][:60]}...)")
    backend = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = psutil.Process(cursor.fetchone()[0])
    walls, cpus = [], []
    server_before = sum(backend.cpu_times()[:2]) if backend else 0.0
    for _ in range(beats):
        wall, cpu = time.perf_counter(), time.process_time()
        registry.beat(reg)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    server = (sum(backend.cpu_times()[:2]) - server_before) / beats if backend else 0.0
    per_beat = statistics.median(cpus) + server
    print(f"one beat ({beats} beats, {connection.vendor}): wall median {statistics.median(walls) * 1e3:.3f} ms, "
          f"p99 {sorted(walls)[int(len(walls) * 0.99)] * 1e3:.3f} ms; "
          f"CPU median {statistics.median(cpus) * 1e3:.3f} ms in this process"
          + (f" + {server * 1e3:.3f} ms in the PostgreSQL backend (mean)" if backend else ""))
    print(f"  at one beat per {heartbeat:g} s: {per_beat / heartbeat * 100:.4f} % of one core")


def idle_cluster(seconds: float) -> None:
    from hosting.models import Cluster

    env = {**os.environ, **cluster_env(2)}
    proc = subprocess.Popen([sys.executable, str(BASE / "manage.py"), "qcluster"], cwd=BASE, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        give_up = time.monotonic() + 60
        while not Cluster.objects.filter(pid=proc.pid).exists():
            if time.monotonic() > give_up or proc.poll() is not None:
                raise SystemExit("the cluster did not register")
            time.sleep(0.2)
        time.sleep(5)  # workers forked and settled
        root = psutil.Process(proc.pid)
        before, started = per_process(root), time.monotonic()
        beat_before = Cluster.objects.get(pid=proc.pid).beat_at
        time.sleep(seconds)
        after, took = per_process(root), time.monotonic() - started
        used = sum(after.values()) - sum(before.get(name, 0.0) for name in after)
        print("  by process: " + ", ".join(f"{name.split()[0]} {(cpu - before.get(name, 0.0)) / took * 100:.3f} %"
                                             for name, cpu in sorted(after.items())))
        row = Cluster.objects.get(pid=proc.pid)
        beats = (row.beat_at - beat_before).total_seconds()
        print(f"idle cluster over {took:.0f} s: {used:.2f} s CPU = {used / took * 100:.2f} % of one core "
              f"(process tree of {len(root.children(recursive=True)) + 1}); beats kept coming: last "
              f"{beats:.0f} s after the first measured one")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--beats", type=int, default=2000)
    parser.add_argument("--heartbeat", type=float, default=5.0)
    options = parser.parse_args()
    instance(options.database, options.heartbeat, "hm-idle-")
    from hosting.inventory import local_server

    local_server()
    beat_cost(options.beats, options.heartbeat)
    if options.seconds > 0:
        idle_cluster(options.seconds)


if __name__ == "__main__":
    main()
