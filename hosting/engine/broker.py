"""django-q2's ORM broker, made to wait for a control database that restarts (settings name it in
Q_CLUSTER["broker_class"] when the ORM broker is used).

django-q2's pusher ends itself on any error of `dequeue` and the sentinel starts a new one only
10 s later: every database restart stopped deliveries for 10 s, long enough for the watchdog to
take the quiet queue for a wedged one on short heartbeats. Its monitor dies when acknowledging a
result fails, leaving the message fetched (locked for `retry`, hours) until the cluster restarts.
Here the pusher waits and polls again, and the monitor waits for the database to acknowledge."""
from __future__ import annotations

import logging
import time

from django.db import DatabaseError
from django_q.brokers import orm

from hosting.engine import reconnect

# Between two polls of an unreachable database.
PAUSE = 0.5
_logger = logging.getLogger("hosting.engine")


class ORM(orm.ORM):
    _away = False

    def dequeue(self):  # noqa: ANN201 - django-q2's signature
        try:
            found = super().dequeue()
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
        return found

    def acknowledge(self, task_id):  # noqa: ANN001, ANN201 - django-q2's signature
        return reconnect.retry(super().acknowledge, task_id)
