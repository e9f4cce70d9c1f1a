"""Health checks of the whole installation, like Katello's /about and `hammer ping`: the control
database, the broker, each server's worker cluster, each database and web server, disk space.

Plain functions returning Check rows, so that the status page, /status.json and a `ping`
command show the same thing. Worker clusters are judged by their registry rows (hosting.clusters):
a queue of a server that no live cluster serves is down, even when nothing is queued. Checks that
leave this process (database and web servers) run in parallel with short timeouts: one dead
server must not make the status page time out."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from hosting.engine.heartbeat import lost_before
from hosting.models import Server, Task

# A broker message nobody has fetched for this long, while the queue's clusters beat and none of
# its tasks runs, means they do not read it.
UNFETCHED_LIMIT = 30.0
# Below this share of free space a disk is reported as failing.
DISK_FREE_MIN = 0.05
NETWORK_TIMEOUT = 3.0
CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    latency_ms: float | None = None
    detail: str = ""
    group: str = ""

    def as_dict(self, *, detail: bool = True) -> dict[str, object]:
        data = asdict(self)
        if not detail:
            data.pop("detail")
            # A queue's name is the provider's: a client member reads which kind of check it is.
            if self.group == "workers":
                data["name"] = "workers"
        return data


def _timed(name: str, group: str, probe: Callable[[], str]) -> Check:
    """Run PROBE (returns a detail, raises when down) and time it."""
    started = time.monotonic()
    try:
        detail = probe()
        ok = True
    except Exception as exc:  # noqa: BLE001 - any failure of a probe is the thing being reported
        detail, ok = (str(exc) or type(exc).__name__)[:300], False
    return Check(name, ok, round((time.monotonic() - started) * 1000, 1), detail, group)


def control_database() -> Check:
    def probe() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return f"{connection.vendor} ({connection.settings_dict['NAME']})"
    return _timed("control database", "core", probe)


def broker() -> Check:
    def probe() -> str:
        from django_q.brokers import get_broker

        from hosting.engine.routing import orm_broker, redis_broker

        if redis_broker():
            if not get_broker().ping():
                raise RuntimeError("Redis does not answer")
            return "Redis"
        if not orm_broker():
            return "another broker"
        from django_q.models import OrmQ

        now = timezone.now()
        waiting = OrmQ.objects.filter(lock__lte=now)
        oldest = waiting.order_by("lock").values_list("lock", flat=True).first()
        count = waiting.count()
        age = f", oldest waiting {int((now - oldest).total_seconds())} s" if oldest else ""
        return f"database broker: {count} message(s) waiting{age}"
    return _timed("broker", "core", probe)


def _unfetched(queue: str) -> tuple[float | None, int]:
    """How long the oldest message of QUEUE has waited without a worker fetching it (seconds,
    None when nothing waits or the broker cannot tell), and how many wait.

    ORM broker: a fetched message is locked into the future. Redis: a fetched message leaves the
    queue's list; the oldest one's age is that of its task's hand-over (dispatched_at)."""
    from hosting.engine.routing import orm_broker, redis_broker

    now = timezone.now()
    if redis_broker():
        from hosting.engine.reconcile import task_of
        from hosting.engine.routing import redis_list

        conn, key = redis_list(queue)
        count = int(conn.llen(key))
        if not count:
            return None, 0
        head = conn.lindex(key, 0)
        task_id = task_of(head) if head is not None else None
        sent = Task.objects.filter(pk=task_id).values_list("dispatched_at", flat=True).first() if task_id else None
        return ((now - sent).total_seconds() if sent else None), count
    if not orm_broker():
        return None, 0
    from django_q.models import OrmQ

    waiting = OrmQ.objects.filter(key=queue, lock__lte=now)
    oldest = waiting.order_by("lock").values_list("lock", flat=True).first()
    return ((now - oldest).total_seconds() if oldest else None), (waiting.count() if oldest else 0)


def worker_checks() -> list[Check]:
    """One check per queue: every server's, and any other queue a live cluster serves. Whether a
    queue is served comes from the clusters' registry (hosting.clusters)."""
    from hosting import clusters
    from hosting.engine.instance import instance_key
    from hosting.engine.routing import redis_broker

    try:
        found = clusters.services(with_unused=True)
        # Only Redis lists are named by the instance key: there a mismatch loses messages.
        instance = instance_key() if redis_broker() else None
    except Exception as exc:  # noqa: BLE001 - reported as the check that failed
        return [Check("workers", False, None, (str(exc) or type(exc).__name__)[:300], "workers")]
    if not found:
        # A fresh instance: queues exist once servers do (and then they need a cluster).
        return [Check("workers", True, None, "no server is recorded yet: no queue needs a worker cluster", "workers")]
    return [queue_workers(service, instance) for service in found.values()
            if service.has_server or service.live]


def queue_workers(service, instance: str | None = None) -> Check:  # noqa: ANN001 - clusters.QueueService
    """SERVICE's queue: down when no live cluster serves it, when a live one reports a problem,
    or when clusters beat but none fetches its messages (wedged, or reading another broker)."""
    queue = service.queue

    def probe() -> str:
        if not service.served:
            queued = Task.objects.filter(server__queue=queue, state=Task.QUEUED).count()
            raise RuntimeError(service.unserved_reason() + (f"; {queued} task(s) queued" if queued else ""))
        problems = service.problems(instance)
        if problems:
            raise RuntimeError("; ".join(problems))
        detail = service.describe()
        if not service.has_server:
            return f"{detail} (no server uses this queue)"
        waited, count = _unfetched(queue)
        # Running tasks that beat show workers that are all busy: messages wait behind them.
        if waited is not None and waited > UNFETCHED_LIMIT and not _tasks_beat(queue):
            raise RuntimeError(f"{detail}; but no worker has taken a message of queue {queue} for "
                               f"{int(waited)} s ({count} waiting): is its worker queue wedged, or does "
                               "it read another broker or instance key than this panel?")
        return detail + (f"; {count} message(s) waiting" if count else "")
    return _timed(f"workers of queue {queue}", "workers", probe)


def _tasks_beat(queue: str) -> bool:
    fresh = lost_before(timezone.now())
    return Task.objects.filter(server__queue=queue, state=Task.RUNNING, heartbeat_at__gte=fresh).exists()


def worker_cluster(server: Server) -> Check:
    """The check of SERVER's queue alone."""
    from hosting import clusters
    from hosting.engine.instance import instance_key
    from hosting.engine.routing import redis_broker

    return queue_workers(clusters.service(server.queue), instance_key() if redis_broker() else None)


def database_server(server: Server) -> Check:
    def probe() -> str:
        from hosting.operations.resources import db_server
        from provision.db import driver_for

        db = db_server(server)
        driver_for(db).ping()
        return db.label
    return _timed(f"database server of {server.name} ({server.get_db_engine_display()})", "servers", probe)


def _web_address(server: Server) -> tuple[str, int]:
    first = (getattr(server, "web_listen", "") or "80").split(",")[0].strip()
    host, _, port = first.rpartition(":")
    host = host.strip("[]") if host and host not in ("*", "0.0.0.0", "[::]") else server.hostname
    return host, int(port) if port.isdigit() else 80


def web_server(server: Server) -> Check:
    def probe() -> str:
        if server.http == "none":
            return "none: vhosts are written, not served"
        host, port = _web_address(server)
        with socket.create_connection((host, port), timeout=NETWORK_TIMEOUT):
            pass
        return f"{server.http} answers on {host}:{port}"
    return _timed(f"web server of {server.name}", "servers", probe)


def is_this_host(server: Server) -> bool:
    return server.hostname in {"localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()}


def _paths(server: Server) -> list[Path]:
    paths = [Path(settings.HARBORMASTER_DATA_DIR), Path(settings.HARBORMASTER_BACKUP_DIR)]
    paths += [Path(p) for p in (server.sqlite_dir, server.web_conf_dir) if p]
    return [p for p in paths if p.exists()]


def disk(server: Server) -> Check:
    def probe() -> str:
        if not is_this_host(server):
            return f"not measured here: {server.hostname} is another host"
        seen: dict[int, tuple[Path, shutil._ntuple_diskusage]] = {}
        for path in _paths(server):
            seen.setdefault(os.stat(path).st_dev, (path, shutil.disk_usage(path)))
        words, low = [], []
        for path, usage in seen.values():
            share = usage.free / usage.total if usage.total else 0
            words.append(f"{path}: {usage.free / 2**30:.1f} GiB free ({share:.0%})")
            if share < DISK_FREE_MIN:
                low.append(str(path))
        if low:
            raise RuntimeError(f"less than {DISK_FREE_MIN:.0%} free on {', '.join(low)}. " + "; ".join(words))
        return "; ".join(words) or "no data directory yet"
    return _timed(f"disk of {server.name}", "disk", probe)


def backup_stores() -> Check:
    """Known damage in the sites' backup stores, as the scrub, `backups verify` and backups left
    it (hosting.scrub): failing while any object has no good copy, so `ping` exits non-zero."""
    def probe() -> str:
        from hosting import clusters
        from hosting.models import StoreCheck
        from hosting.scrub import damaged_stores

        total = StoreCheck.objects.count()
        if not total:
            return "no backup store yet"
        damaged = damaged_stores()
        if damaged:
            shown = "; ".join(f"{row.domain}: {row.detail}" for row in damaged[:5])
            more = f"; and {len(damaged) - 5} more store(s)" if len(damaged) > 5 else ""
            raise RuntimeError(f"damage in {len(damaged)} of {total} backup store(s): {shown}{more}. "
                               "`manage.py backups verify` names the backups; the next backup of each site "
                               "stores again what its files still hold")
        never = StoreCheck.objects.filter(scrubbed_at__isnull=True).count()
        oldest = StoreCheck.objects.filter(scrubbed_at__isnull=False).order_by("scrubbed_at") \
            .values_list("scrubbed_at", flat=True).first()
        age = f", oldest whole pass {clusters.elapsed(timezone.now(), oldest)} ago" if oldest else ""
        return f"{total} store(s), no known damage; {never} not scrubbed whole yet{age}"
    return _timed("backup stores", "backups", probe)


def certificates() -> Check:
    """Site certificates: failing while one that a site serves expires within ALARM_DAYS (its
    renewal has failed for weeks by then), so `ping` exits non-zero."""
    def probe() -> str:
        from hosting.renewals import ALARM_DAYS, expiring, live_certificates

        soon = list(expiring(ALARM_DAYS)[:6])
        if soon:
            shown = "; ".join(f"{c.site.domain}{' (uploaded: upload a new one)' if c.uploaded else ''} on "
                              f"{c.not_after:%Y-%m-%d %H:%M} UTC" for c in soon[:5])
            raise RuntimeError(f"certificate(s) expiring within {ALARM_DAYS} days: {shown}"
                               f"{' and more' if len(soon) > 5 else ''}. Their last renewal attempt is on "
                               "the site's page")
        return f"{live_certificates().count()} certificate(s), none expiring within {ALARM_DAYS} days"
    return _timed("certificates", "certificates", probe)


def offsite_remotes() -> Check:
    """Off-site copies (hosting.offsite): failing while a remote's oldest backup not copied yet
    is older than HARBORMASTER_OFFSITE_MAX_LAG minutes, or its last run failed."""
    def probe() -> str:
        from hosting.offsite import status

        found = status()
        if not found:
            return "no remote"
        late = [b for b in found if b.late or b.remote.last_error]
        if late:
            raise RuntimeError("; ".join(b.describe() + (f" (last run: {b.remote.last_error[:200]})"
                                                         if b.remote.last_error else "") for b in late[:5]))
        return "; ".join(b.describe() for b in found[:5]) + (f"; {len(found) - 5} more" if len(found) > 5 else "")
    return _timed("off-site copies", "backups", probe)


def run_all() -> list[Check]:
    """Every check. The ones in this process first, then the network ones in parallel."""
    servers = list(Server.objects.order_by("name"))
    checks = [control_database(), broker()]
    checks += worker_checks()
    checks += [disk(s) for s in servers]
    checks.append(backup_stores())
    checks.append(offsite_remotes())
    checks.append(certificates())
    remote = [(database_server, s) for s in servers] + [(web_server, s) for s in servers]
    if remote:
        with ThreadPoolExecutor(max_workers=min(8, len(remote))) as pool:
            checks += list(pool.map(lambda pair: _in_thread(pair[0], pair[1]), remote))
    return checks


def _in_thread(check: Callable[[Server], Check], server: Server) -> Check:
    try:
        return check(server)
    finally:
        connection.close()  # a worker thread's own database connection, if it opened one


_cache: tuple[float, list[Check]] | None = None
_cache_lock = threading.Lock()


def cached() -> list[Check]:
    """run_all(), at most once every CACHE_SECONDS per process: /status.json is polled by
    monitors and may be public, and must not turn into a way to hammer every database server."""
    global _cache
    with _cache_lock:
        if _cache is None or time.monotonic() - _cache[0] > CACHE_SECONDS:
            _cache = (time.monotonic(), run_all())
        return _cache[1]


def clear_cache() -> None:
    global _cache
    with _cache_lock:
        _cache = None
