"""Audit retention: events older than HARBORMASTER_AUDIT_RETENTION_DAYS go (0, the default, keeps
them forever), in small batches, and each prune leaves an audit event of its own saying how many
events before which moment it removes.

Audit events are append-only in the database (migration 0007): a trigger refuses UPDATE and
DELETE. This pruner is the one way through: `gate_open()` lets its own transaction delete (on
PostgreSQL a transaction-local setting the trigger reads, on SQLite the row of hosting_audit_gate
set and reset within the transaction), so no other connection ever sees the gate open.

The record of a prune is written in the same transaction as its first batch: a run that stops
half way has still said what it set out to remove, and the next run says what is left."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from hosting.machine import iso
from hosting.models import AuditEvent

ACTOR = "system:retention"
ACTION = "audit.pruned"
BATCH = 1000
SCHEDULED_BUDGET = 120.0
GATE_SETTING = "harbormaster.audit_prune"
_logger = logging.getLogger("hosting.auditprune")


@contextmanager
def gate_open(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """A transaction (or savepoint) in which this connection may delete audit events. Opened and
    shut inside it: a failure rolls the opening back with everything else."""
    with transaction.atomic(using=using):
        _set_gate(using, True)
        yield
        _set_gate(using, False)


def _set_gate(using: str, opened: bool) -> None:
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config(%s, %s, true)", [GATE_SETTING, "on" if opened else "off"])
        elif connection.vendor == "sqlite":
            cursor.execute("UPDATE hosting_audit_gate SET open = %s WHERE id = 1", [1 if opened else 0])


@dataclass
class AuditPruned:
    cutoff: datetime
    events: int = 0
    transactions: int = 0
    finished: bool = True


def prune(days: int, *, actor: Any = ACTOR, batch: int = BATCH, dry_run: bool = False,
          budget: float | None = None, now: datetime | None = None) -> AuditPruned:
    """Delete (DRY_RUN: count) the audit events older than DAYS days, recording the prune."""
    if days < 1:
        raise ValueError("Audit events are pruned after 1 day at the earliest.")
    result = AuditPruned((now or timezone.now()) - timedelta(days=days))
    old = AuditEvent.objects.filter(at__lt=result.cutoff)
    if dry_run:
        result.events = old.count()
        return result
    deadline = time.monotonic() + budget if budget is not None else None
    while deadline is None or time.monotonic() < deadline:
        started = time.perf_counter()
        with gate_open():
            if result.transactions == 0:
                total = old.count()
                if total:
                    _record(actor, total, result.cutoff, days)
            ids = list(old.order_by("at", "id").values_list("pk", flat=True)[:max(1, batch)])
            if ids:
                doomed = AuditEvent.objects.filter(pk__in=ids)
                result.events += doomed._raw_delete(doomed.db)
        result.transactions += 1
        if len(ids) < batch:
            return result
        # Rest as long as the transaction took: writers waiting for SQLite's lock get their turn.
        time.sleep(min(time.perf_counter() - started, 0.25))
    result.finished = False
    return result


def _record(actor: Any, total: int, cutoff: datetime, days: int) -> None:
    from hosting import audit

    audit.record(actor, ACTION, after={"events": total, "before": iso(cutoff), "retention_days": days},
                 detail=f"Audit retention removes the {total:,} events recorded before {iso(cutoff)}.")


def summary(result: AuditPruned, dry_run: bool = False) -> str:
    verb = "Would prune" if dry_run else "Pruned"
    text = f"{verb} {result.events:,} audit events recorded before {iso(result.cutoff)}"
    if not result.finished:
        text += "; stopped at the time budget, the rest goes next time"
    return text + "."


def run_scheduled() -> str:
    """What the django-q2 schedule calls (hourly)."""
    days = int(settings.HARBORMASTER_AUDIT_RETENTION_DAYS)
    if days <= 0:
        return "audit retention is off (HARBORMASTER_AUDIT_RETENTION_DAYS=0): events are kept forever"
    text = summary(prune(days, budget=SCHEDULED_BUDGET))
    _logger.info("%s", text)
    return text
