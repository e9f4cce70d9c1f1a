"""django-q2's brokers as the engine uses them (settings name one of these in
Q_CLUSTER["broker_class"]).

ORM: django-q2's pusher ends itself on any error of `dequeue` and the sentinel starts a new one
only 10 s later: every database restart stopped deliveries for 10 s, long enough for the watchdog
to take the quiet queue for a wedged one on short heartbeats. Its monitor dies when acknowledging
a result fails, leaving the message fetched (locked for `retry`, hours) until the cluster
restarts. Here the pusher waits and polls again, and the monitor waits for the database to
acknowledge. An idle pusher does not SELECT every poll: it waits on a wake-up (NOTIFY on
PostgreSQL, SQLite's data_version) and reads the queue when it rings, or every few seconds
anyway (hosting.engine.doorbell).

Redis: every key lives under the instance key (hosting.engine.instance), so two instances on one
Redis never read each other's lists, whatever their queues are called.

Both: a message this cluster cannot unsign (another secret key wrote it) is never dropped
silently. django-q2's pusher logs a traceback and moves on; here it is logged once in words,
counted (the cluster's registry row, the status page and `ping` show the count), kept for a look
(Redis: a capped list beside the queue), and the task it carried, if it is one of ours, is
handed over again by the reconciler, which re-sends queued tasks whose message is gone."""
from __future__ import annotations

import logging
import time

from django.db import DatabaseError
from django.utils import timezone
from django_q.brokers import Broker, orm, redis_broker
from django_q.conf import Conf

from hosting.engine import doorbell, reconnect

# Between two polls of an unreachable database.
PAUSE = 0.5
# Unreadable Redis messages kept for a look, and for how long.
KEEP_UNREADABLE = 100
KEEP_UNREADABLE_FOR = 7 * 86400
_logger = logging.getLogger("hosting.engine")


def readable(broker: Broker, queue: str, found: list | None, drop) -> list | None:  # noqa: ANN001
    """The (ack id, package) pairs of FOUND that this instance can unsign; the others are
    reported and handed to DROP(ack id, package)."""
    if not found:
        return found
    from django_q.signing import SignedPackage

    from hosting.engine import registry

    kept = []
    for ack_id, package in found:
        try:
            SignedPackage.loads(package)
        except Exception as exc:  # noqa: BLE001 - whatever it is, it is not ours to run
            registry.count_unreadable()
            _logger.error(
                "queue %s: dropped an unreadable message (%s, %s bytes): it was not written by this "
                "instance (another secret key or instance sharing the broker?). A task of ours whose "
                "message this was is handed over again by the reconciler.",
                queue, type(exc).__name__, len(package or ""))
            drop(ack_id, package)
            continue
        kept.append((ack_id, package))
    return kept or None


class ORM(orm.ORM):
    _away = False
    # This process's wake-up (hosting.engine.doorbell), made by the first dequeue: only the
    # pusher dequeues, and it is a process of its own.
    _bell: doorbell.Bell | None = None
    _bell_made = False
    # The last read found messages: read again at once (a burst is read at full speed).
    _more = False

    def enqueue(self, task):  # noqa: ANN001, ANN201 - django-q2's signature
        ack_id = super().enqueue(task)
        doorbell.ring(Conf.ORM, self.list_key or Conf.CLUSTER_NAME)
        return ack_id

    def _fetch(self):  # noqa: ANN202
        """django-q2's dequeue without its sleep on an empty queue."""
        tasks = self.get_connection().filter(key=self.list_key, lock__lt=timezone.now())[0:Conf.BULK]
        return [(task.pk, task.payload) for task in tasks
                if self.get_connection().filter(id=task.id, lock=task.lock).update(lock=self.timeout(task))]

    def dequeue(self):  # noqa: ANN201 - django-q2's signature
        if not ORM._bell_made:
            ORM._bell_made = True
            ORM._bell = doorbell.bell(Conf.ORM, self.list_key)
        bell = ORM._bell
        # Between reads the pusher waits `poll` at a time on the wake-up, not on a query.
        if bell is not None and not ORM._more and not bell.wait(Conf.POLL):
            return None
        try:
            if bell is not None:
                bell.reading()
            found = self._fetch() or None
            ORM._more = found is not None
            if found is None and bell is None:
                time.sleep(Conf.POLL)  # as django-q2's own
        except DatabaseError as exc:
            if not reconnect.connection_lost(exc):
                raise
            if not ORM._away:
                _logger.warning("broker: the control database is unreachable; polling again every %s s", PAUSE)
            ORM._away = True
            reconnect.reset()
            time.sleep(PAUSE)
            return None
        if ORM._away:
            _logger.warning("broker: the control database answers again")
            ORM._away = False
        # An unreadable row is deleted: it would be fetched and refused again after `retry`.
        return readable(self, self.list_key, found, lambda ack_id, _package: self.fail(ack_id))

    def acknowledge(self, task_id):  # noqa: ANN001, ANN201 - django-q2's signature
        return reconnect.retry(super().acknowledge, task_id)


def redis_key(queue: str, what: str = "q") -> str:
    """The Redis key of QUEUE's list (WHAT="q") or of its unreadable messages, under this
    instance's key. django-q2's own would be `django_q:<queue>:q`, shared by every instance."""
    from hosting.engine.instance import instance_key

    return f"django_q:{instance_key()}:{queue}:{what}"


class Redis(redis_broker.Redis):
    def __init__(self, list_key: str | None = None) -> None:
        self.queue = list_key or Conf.CLUSTER_NAME
        Broker.__init__(self, list_key=redis_key(self.queue))

    def __getstate__(self):  # noqa: ANN204
        return self.queue, self.list_key, self._info

    def __setstate__(self, state) -> None:  # noqa: ANN001
        self.queue, *rest = state
        super().__setstate__(tuple(rest))

    def dequeue(self):  # noqa: ANN201 - django-q2's signature
        return readable(self, self.queue, super().dequeue(), self._keep_unreadable)

    def _keep_unreadable(self, _ack_id, package) -> None:  # noqa: ANN001
        key = redis_key(self.queue, "unreadable")
        try:
            self.connection.pipeline().rpush(key, package).ltrim(key, -KEEP_UNREADABLE, -1) \
                .expire(key, KEEP_UNREADABLE_FOR).execute()
        except Exception:  # noqa: BLE001 - it was logged and counted already
            _logger.warning("could not keep an unreadable message in %s", key, exc_info=True)

    # django-q2's cluster statistics (`django_q:<name>:cluster:<id>`) go under the key too.
    def _stat_key(self, key: str) -> str:
        from hosting.engine.instance import instance_key

        prefix = "django_q:"
        return f"{prefix}{instance_key()}:{key[len(prefix):]}" if key.startswith(prefix) else key

    def set_stat(self, key: str, value: str, timeout: int) -> None:
        super().set_stat(self._stat_key(key), value, timeout)

    def get_stat(self, key: str):  # noqa: ANN201
        return super().get_stat(self._stat_key(key))

    def get_stats(self, pattern: str):  # noqa: ANN201
        return super().get_stats(self._stat_key(pattern))
