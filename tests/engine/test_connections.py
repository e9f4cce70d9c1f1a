"""Connections of workers, their broker and the panel are kept between tasks, polls and requests,
and replaced when they broke (docs/decisions.md, "Persistent database connections")."""
from __future__ import annotations

import pytest
from django.db import close_old_connections, connection

from hosting.models import Task


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_connection_between_tasks_and_replaces_a_broken_one():
    # django-q2 calls close_old_connections() before every task (and its ORM broker at every
    # poll): a connection that is kept is not reopened...
    Task.objects.exists()
    kept = connection.connection
    close_old_connections()
    Task.objects.exists()
    assert connection.connection is kept
    if connection.vendor != "postgresql":
        return  # SQLite has no server to lose the connection to
    # ...and one that a database restart ended is found by its health check and replaced.
    kept.close()
    close_old_connections()
    Task.objects.count()  # would raise "the connection is closed" on the old session
    assert connection.connection is not kept and not connection.connection.closed
