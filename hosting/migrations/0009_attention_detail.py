"""A site's need for attention in two versions: `attention` for the site's client, naming nothing
of another client's, and `attention_detail` for administrators (issue 13, review H3); task log
lines of level "detail" are for administrators only.

The data step: a reason recorded before may name another client's site or database ("which
belongs to other-client.example"). It becomes the administrators' detail, and the client reads a
reason that names nothing; the next verify of the site records its reason again in both versions."""
from django.db import migrations, models

SAFE = ("The site's record and its disk disagree (the full reason is shown to administrators); "
        "verify the site to check it again.")


def split_reasons(apps, schema_editor) -> None:
    Site = apps.get_model("hosting", "Site")
    for site in Site.objects.exclude(attention="").only("pk", "attention"):
        Site.objects.filter(pk=site.pk).update(attention=SAFE, attention_detail=site.attention)


class Migration(migrations.Migration):

    dependencies = [
        ('hosting', '0008_site_attention_database'),
    ]

    operations = [
        migrations.AddField(
            model_name='site',
            name='attention_detail',
            field=models.TextField(blank=True),
        ),
        migrations.AlterField(
            model_name='tasklog',
            name='level',
            field=models.CharField(choices=[('debug', 'Debug'), ('info', 'Info'), ('warning', 'Warning'), ('error', 'Error'), ('detail', 'Administrators only')], default='info', max_length=8),
        ),
        migrations.RunPython(split_reasons, migrations.RunPython.noop),
    ]
