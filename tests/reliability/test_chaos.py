"""Chaos, short version (bench/chaos.py is the long one): 40 mixed tasks on 6 sites while a
worker is SIGKILLed every 2-5 s and the whole cluster twice; then every promise is checked."""
from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from tests.reliability import chaos

pytestmark = [pytest.mark.slow]


def test_it_keeps_every_promise_under_a_worker_killer(real_clusters, worker_env, settings, capsys) -> None:
    data = Path(settings.HARBORMASTER_DATA_DIR)
    rng = random.Random(9)
    began = time.monotonic()
    world = chaos.build_world(data, 6)
    sampler = chaos.Sampler()
    sampler.start()
    killer = chaos.Killer(lambda: real_clusters.start("local", workers=4, env=worker_env), rng,
                          cluster_kills=(6, 14))
    killer.start()
    ids = chaos.queue_mix(world, 40, rng, spread=20)
    try:
        # Both whole-cluster kills happen while tasks are still being queued (over 20 s).
        give_up = time.monotonic() + 30
        while killer.cluster_kills and time.monotonic() < give_up:
            time.sleep(0.2)
        settled = chaos.wait_settled(ids, 75)
    finally:
        killer.stop.set()
        killer.join(timeout=30)
    assert settled, "tasks still queued or running after 75 s"
    chaos_seconds = time.monotonic() - began
    sampler.stop.set()
    sampler.join(timeout=5)
    report = chaos.check_engine(ids, sampler)
    # The killer is stopped; the last cluster it started runs the final verifies.
    verify_problems, live = chaos.verify_live_sites(45)
    report.problems += verify_problems
    report.problems += chaos.check_sites_on_disk()
    backup_problems, backups = chaos.check_backups()
    report.problems += backup_problems
    report.figures.update({"worker_kills": killer.worker_kills, "cluster_kills": killer.whole_kills,
                           "live_sites_verified": live, "backups_verified": backups,
                           "partial_archives_left": chaos.leftovers(data),
                           "chaos_seconds": round(chaos_seconds, 1),
                           "total_seconds": round(time.monotonic() - began, 1)})
    with capsys.disabled():
        print("\nchaos figures:", json.dumps(report.figures, sort_keys=True))
    # Busy workers only (see chaos.Killer): some ticks find none, so the count varies (2-4).
    assert killer.whole_kills == 2 and killer.worker_kills >= 1, report.figures
    assert not report.problems, "\n".join(report.problems)
