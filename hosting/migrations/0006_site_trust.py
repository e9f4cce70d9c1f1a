"""Sites own the database their record names (issue 13): the SQLite file of a site kept inside
its directory is recorded (db_file), a site can need attention (with the reason, and the other
platform holding a copy), and the backup store's real bytes are counted (disk_backup_bytes).

The data step makes records written before this safe to act on. Records imported from disk
took their database from settings.php; two of them may name one database (a hostile
settings.php did exactly that), and an SQLite import kept only the file's name, which says
nothing about where the file is. Both lose their database fields and are marked as needing
attention: the next site verify records the database again under the ownership rules (not
another live site's, an SQLite file inside the site) or says why it cannot."""
import re

import django.db.models.deletion
from django.db import migrations, models

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def _forget(site, reason: str) -> None:
    site.db_name, site.db_user, site.attention = "", "", reason
    site.save(update_fields=["db_name", "db_user", "attention"])


def record_ownership(apps, schema_editor) -> None:
    Site = apps.get_model("hosting", "Site")
    live = list(Site.objects.exclude(status="deleted").select_related("platform__server").order_by("pk"))
    for site in live:
        if not site.imported or not site.db_name:
            continue
        if site.platform.server.db_engine == "sqlite" or not _IDENTIFIER.match(site.db_name):
            _forget(site, "Imported before SQLite database files were recorded: verify the site to record "
                          "its database file.")
    owners: dict[tuple[int, str, str], list] = {}
    for site in live:
        if site.db_name:
            owners.setdefault((site.platform.server_id, "database", site.db_name), []).append(site)
        if site.db_user:
            owners.setdefault((site.platform.server_id, "user", site.db_user), []).append(site)
    for (_server, what, name), sites in owners.items():
        if len(sites) < 2:
            continue
        for site in sites:
            others = ", ".join(s.domain for s in sites if s.pk != site.pk)
            if site.imported and site.db_name:
                _forget(site, f"Imported with the {what} {name}, which is recorded for {others} too: "
                              "verify the site once its settings.php names a database of its own.")


class Migration(migrations.Migration):

    dependencies = [
        ('hosting', '0005_clusters'),
    ]

    operations = [
        migrations.AddField(
            model_name='site',
            name='attention',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='site',
            name='attention_platform',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                    related_name='+', to='hosting.platform'),
        ),
        migrations.AddField(
            model_name='site',
            name='db_file',
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name='site',
            name='disk_backup_bytes',
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddIndex(
            model_name='site',
            index=models.Index(condition=models.Q(('attention', ''), _negated=True), fields=['status'],
                               name='site_attention'),
        ),
        migrations.RunPython(record_ownership, migrations.RunPython.noop),
    ]
