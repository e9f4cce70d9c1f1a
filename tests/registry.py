"""Worker-cluster registry rows for tests that need a queue served (or not) without starting a
real qcluster: what hosting.engine.registry writes for a cluster that beats."""
from __future__ import annotations

import itertools
from datetime import timedelta

from django.utils import timezone

_pids = itertools.count(40000)


def cluster_row(queue: str = "local", *, beat_ago: float = 0.0, **fields):
    """A cluster of QUEUE whose last beat was BEAT_AGO seconds ago (other FIELDS as given)."""
    from hosting.models import Cluster

    now = timezone.now()
    values = {"host": "worker.test", "pid": next(_pids), "process_started": 1.0, "queue": queue, "workers": 2,
              "started_at": now - timedelta(hours=1), "beat_at": now - timedelta(seconds=beat_ago), **fields}
    return Cluster.objects.create(**values)
