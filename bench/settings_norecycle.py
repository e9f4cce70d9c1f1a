"""Settings of a cluster whose workers are never recycled (bench/worker_memory.py): django-q2
replaces a worker after `recycle` tasks, or once its peak RSS passes `max_rss`, and either would
hide a slow leak of our own behind the restarts. `recycle` 0 never matches the task count."""
from hosting.settings import *  # noqa: F401,F403
from hosting.settings import Q_CLUSTER

Q_CLUSTER = {**Q_CLUSTER, "recycle": 0, "max_rss": None}
