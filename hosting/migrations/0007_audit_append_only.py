"""Audit events are append-only where the database can enforce it (issue 24).

A trigger refuses every UPDATE and DELETE of hosting_auditevent, with two exceptions:
- the retention pruner (hosting.auditprune) deletes inside a transaction that opened the gate:
  on PostgreSQL the transaction-local setting `harbormaster.audit_prune = 'on'`, on SQLite the
  one row of hosting_audit_gate set to 1 (and back to 0) within the same transaction;
- a deleted user or client forgets its link (Django's ON DELETE SET NULL on actor and client):
  an UPDATE that only sets actor_id or client_id to NULL goes through; the labels stay.
PostgreSQL also refuses TRUNCATE unless the gate is open. Anyone who can DROP TRIGGER can still
rewrite history: this stops the panel, the admin, a stray script and a stolen session, not the
database's owner. On SQLite the UPDATE rule names the columns: a new column of AuditEvent must
be added to it (SQLITE_COLUMNS below; a test compares them with the model)."""
from django.db import migrations

REFUSED = "audit events are append-only"

POSTGRESQL = f"""
CREATE FUNCTION hosting_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (to_jsonb(NEW) - 'actor_id' - 'client_id') = (to_jsonb(OLD) - 'actor_id' - 'client_id')
       AND (NEW.actor_id IS NULL OR NEW.actor_id = OLD.actor_id)
       AND (NEW.client_id IS NULL OR NEW.client_id = OLD.client_id) THEN
        RETURN NEW;
    END IF;
    IF TG_OP IN ('DELETE', 'TRUNCATE') AND current_setting('harbormaster.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '{REFUSED}: % refused', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Only the audit retention (manage.py audit prune) deletes events.';
END $$;
CREATE TRIGGER hosting_audit_append_only BEFORE UPDATE OR DELETE ON hosting_auditevent
    FOR EACH ROW EXECUTE FUNCTION hosting_audit_append_only();
CREATE TRIGGER hosting_audit_no_truncate BEFORE TRUNCATE ON hosting_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION hosting_audit_append_only();
"""

POSTGRESQL_REVERSE = """
DROP TRIGGER IF EXISTS hosting_audit_no_truncate ON hosting_auditevent;
DROP TRIGGER IF EXISTS hosting_audit_append_only ON hosting_auditevent;
DROP FUNCTION IF EXISTS hosting_audit_append_only();
"""

# Every column but actor_id and client_id, which ON DELETE SET NULL may clear.
SQLITE_COLUMNS = ("id", "at", "actor_label", "action", "object_type", "object_id", "object_label", "address",
                  "before", "after", "detail")
_UNCHANGED = " AND ".join(f'NEW."{c}" IS OLD."{c}"' for c in SQLITE_COLUMNS)
_GATE_SHUT = "(SELECT open FROM hosting_audit_gate WHERE id = 1) IS NOT 1"

SQLITE = [
    "CREATE TABLE hosting_audit_gate (id integer PRIMARY KEY CHECK (id = 1), open integer NOT NULL DEFAULT 0)",
    "INSERT INTO hosting_audit_gate (id, open) VALUES (1, 0)",
    f"""CREATE TRIGGER hosting_audit_no_delete BEFORE DELETE ON hosting_auditevent WHEN {_GATE_SHUT}
        BEGIN SELECT RAISE(ABORT, '{REFUSED}: DELETE refused'); END""",
    f"""CREATE TRIGGER hosting_audit_no_update BEFORE UPDATE ON hosting_auditevent
        WHEN NOT ({_UNCHANGED}
                  AND (NEW.actor_id IS NULL OR NEW.actor_id IS OLD.actor_id)
                  AND (NEW.client_id IS NULL OR NEW.client_id IS OLD.client_id))
        BEGIN SELECT RAISE(ABORT, '{REFUSED}: UPDATE refused'); END""",
    # The gate's row cannot go: an empty gate table would read as shut, but say it plainly.
    f"""CREATE TRIGGER hosting_audit_gate_stays BEFORE DELETE ON hosting_audit_gate
        BEGIN SELECT RAISE(ABORT, '{REFUSED}: the gate row stays'); END""",
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS hosting_audit_gate_stays",
    "DROP TRIGGER IF EXISTS hosting_audit_no_update",
    "DROP TRIGGER IF EXISTS hosting_audit_no_delete",
    "DROP TABLE IF EXISTS hosting_audit_gate",
]


def _run(schema_editor, statements: dict[str, list[str]]) -> None:
    for sql in statements.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql, params=None)


def forwards(apps, schema_editor) -> None:
    _run(schema_editor, {"postgresql": [POSTGRESQL], "sqlite": SQLITE})


def backwards(apps, schema_editor) -> None:
    _run(schema_editor, {"postgresql": [POSTGRESQL_REVERSE], "sqlite": SQLITE_REVERSE})


class Migration(migrations.Migration):

    dependencies = [
        ('hosting', '0006_site_trust'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
