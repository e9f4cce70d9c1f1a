"""Audit events are append-only in the database itself (migration 0007): raw SQL, the ORM and a
queryset cannot change or delete one; only the audit retention can delete, and it audits that.
Runs on SQLite and, with DATABASE_URL, on PostgreSQL."""
from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from hosting import audit, auditprune
from hosting.models import AuditEvent
from hosting.models.audit import AppendOnly

MIGRATION = importlib.import_module("hosting.migrations.0007_audit_append_only")


def recorded(days_ago: float, action: str = "site.note", **fields) -> AuditEvent:
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() - timedelta(days=days_ago)):
        return audit.record(fields.pop("actor", "alice"), action, **fields)


def refused(sql: str, params: list) -> str:
    """Run SQL in a savepoint (PostgreSQL aborts the transaction on the error); the message."""
    with pytest.raises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(raised.value)


def test_it_refuses_a_raw_update_and_delete(db):
    event = recorded(0, detail="alice did it")
    assert "append-only" in refused("UPDATE hosting_auditevent SET detail = %s WHERE id = %s", ["bob did it", event.pk])
    assert "append-only" in refused("UPDATE hosting_auditevent SET at = %s WHERE id = %s",
                                    [timezone.now() - timedelta(days=400), event.pk])
    assert "append-only" in refused("DELETE FROM hosting_auditevent WHERE id = %s", [event.pk])
    assert "append-only" in refused("DELETE FROM hosting_auditevent", [])
    assert AuditEvent.objects.get(pk=event.pk).detail == "alice did it"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE is PostgreSQL's")
def test_it_refuses_truncate(db):
    recorded(0)
    with connection.cursor() as cursor:  # the insert's deferred foreign key checks, done now
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert "append-only" in refused("TRUNCATE hosting_auditevent", [])
    assert AuditEvent.objects.exists()


def test_it_refuses_the_orm(db):
    event = recorded(0, detail="alice did it")
    event.detail = "forged"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()
    # Past the model's own guard, the database refuses: a queryset's update and delete.
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(detail="forged")
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_label="bob")
    assert AuditEvent.objects.get(pk=event.pk).detail == "alice did it"


def test_it_lets_a_deleted_user_and_client_forget_their_link_only(db, django_user_model, acme):
    user = django_user_model.objects.create_user("leaving", password="x-pass-1234")
    event = audit.record(user, "site.note", client=acme, detail="kept")
    other = django_user_model.objects.create_user("other", password="x-pass-1234")
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor=other)  # re-attributing is forging
    user.delete()
    acme.delete()
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor_id, event.client_id, event.actor_label, event.detail) == (None, None, "leaving", "kept")


def test_the_pruner_deletes_old_events_and_audits_itself(db):
    old = [recorded(40, detail=f"old {i}") for i in range(3)]
    recent = recorded(5, detail="recent")
    result = auditprune.prune(30, batch=2)
    assert result.events == 3 and result.finished and result.transactions == 2
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert AuditEvent.objects.filter(pk=recent.pk).exists()
    record = AuditEvent.objects.get(action="audit.pruned")
    assert record.actor_label == "system:retention" and record.after["events"] == 3
    assert record.after["retention_days"] == 30
    before = datetime.fromisoformat(record.after["before"])
    assert before.tzinfo is not None and abs(before - (timezone.now() - timedelta(days=30))) < timedelta(minutes=1)
    # The gate shut behind it: a plain delete is refused again, in this same transaction too.
    assert "append-only" in refused("DELETE FROM hosting_auditevent WHERE id = %s", [recent.pk])
    # Nothing old left: a second run deletes nothing and records nothing.
    assert auditprune.prune(30).events == 0
    assert AuditEvent.objects.filter(action="audit.pruned").count() == 1


def test_a_failed_prune_leaves_the_gate_shut(db):
    event = recorded(40)
    with pytest.raises(RuntimeError), auditprune.gate_open():
        raise RuntimeError("interrupted")
    assert "append-only" in refused("DELETE FROM hosting_auditevent WHERE id = %s", [event.pk])


def test_the_command_prunes_by_hand_and_counts_in_a_dry_run(db, settings):
    recorded(100)
    out = StringIO()
    call_command("audit", "prune", "--older-than", "30", "--dry-run", stdout=out)
    assert out.getvalue().startswith("Would prune 1 audit events")
    assert AuditEvent.objects.count() == 1
    settings.HARBORMASTER_AUDIT_RETENTION_DAYS = 0
    with pytest.raises(CommandError, match="keep forever"):
        call_command("audit", "prune", stdout=StringIO())
    settings.HARBORMASTER_AUDIT_RETENTION_DAYS = 30
    call_command("audit", "prune", stdout=out)
    (event,) = AuditEvent.objects.all()
    assert event.action == "audit.pruned" and event.actor_label.startswith("cli") and event.after["events"] == 1


def test_the_schedule_keeps_everything_by_default(db, settings):
    recorded(10_000)
    assert settings.HARBORMASTER_AUDIT_RETENTION_DAYS == 0
    assert "kept forever" in auditprune.run_scheduled()
    assert AuditEvent.objects.count() == 1
    settings.HARBORMASTER_AUDIT_RETENTION_DAYS = 365
    assert auditprune.run_scheduled().startswith("Pruned 1 audit events")
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["audit.pruned"]


def test_the_sqlite_trigger_compares_every_column_but_the_links():
    columns = {f.column for f in AuditEvent._meta.concrete_fields} - {"actor_id", "client_id"}
    assert columns == set(MIGRATION.SQLITE_COLUMNS), "a new AuditEvent column needs a migration of the trigger"
