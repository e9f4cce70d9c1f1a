"""Fewer, better indexes on the task history (decisions.md, "Task-history retention").

Drops the single-column indexes of foreign keys that a composite index already starts with
(task: site, platform, server, client; step and log line: task, covered by their unique
(task, position)), and makes the waiting_on and retry_of indexes partial (non-NULL rows only).

The database side drops the indexes by what the database says they are instead of altering the
fields: on SQLite, Django alters a field by copying its whole table, which for 2,000,000 log
lines would hold the write lock through the upgrade."""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROPPED = [("task", "site_id"), ("task", "platform_id"), ("task", "server_id"), ("task", "client_id"),
           ("task", "waiting_on_id"), ("task", "retry_of_id"), ("tasklog", "task_id"), ("taskstep", "task_id")]


def _plain_indexes(schema_editor, table: str, column: str) -> list[str]:
    with schema_editor.connection.cursor() as cursor:
        found = schema_editor.connection.introspection.get_constraints(cursor, table)
    return [name for name, info in found.items()
            if info["index"] and not info["unique"] and not info["primary_key"] and info["columns"] == [column]]


def drop_indexes(apps, schema_editor) -> None:
    quote = schema_editor.quote_name
    for model_name, column in DROPPED:
        table = apps.get_model("hosting", model_name)._meta.db_table
        for name in _plain_indexes(schema_editor, table, column):
            schema_editor.execute(f"DROP INDEX {quote(name)}")


def create_indexes(apps, schema_editor) -> None:
    quote = schema_editor.quote_name
    for model_name, column in DROPPED:
        table = apps.get_model("hosting", model_name)._meta.db_table
        if not _plain_indexes(schema_editor, table, column):
            name = schema_editor._create_index_name(table, [column])
            schema_editor.execute(f"CREATE INDEX {quote(name)} ON {quote(table)} ({quote(column)})")


def _fk(to: str, related_name: str, null: bool = True, cascade: bool = False) -> models.ForeignKey:
    on_delete = django.db.models.deletion.CASCADE if cascade else django.db.models.deletion.SET_NULL
    return models.ForeignKey(blank=null, null=null, db_index=False, on_delete=on_delete, related_name=related_name, to=to)


class Migration(migrations.Migration):

    dependencies = [
        ('hosting', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name='task', name='client', field=_fk('hosting.client', 'tasks')),
                migrations.AlterField(model_name='task', name='platform', field=_fk('hosting.platform', 'tasks')),
                migrations.AlterField(model_name='task', name='retry_of', field=_fk('hosting.task', 'retries')),
                migrations.AlterField(model_name='task', name='server', field=_fk('hosting.server', 'tasks')),
                migrations.AlterField(model_name='task', name='site', field=_fk('hosting.site', 'tasks')),
                migrations.AlterField(model_name='task', name='waiting_on', field=_fk('hosting.task', '+')),
                migrations.AlterField(model_name='tasklog', name='task',
                                      field=_fk('hosting.task', 'log', null=False, cascade=True)),
                migrations.AlterField(model_name='taskstep', name='task',
                                      field=_fk('hosting.task', 'steps', null=False, cascade=True)),
            ],
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
        ),
        migrations.AddIndex(
            model_name='task',
            index=models.Index(condition=models.Q(('waiting_on__isnull', False)), fields=['waiting_on'], name='task_waiting_on'),
        ),
        migrations.AddIndex(
            model_name='task',
            index=models.Index(condition=models.Q(('retry_of__isnull', False)), fields=['retry_of'], name='task_retry_of'),
        ),
    ]
