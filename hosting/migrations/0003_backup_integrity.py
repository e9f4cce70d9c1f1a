"""What the scrub, `backups verify` and backups know of each site's backup store (hosting.scrub)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('hosting', '0002_task_history_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='StoreCheck',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('domain', models.CharField(max_length=253, unique=True)),
                ('cursor', models.CharField(blank=True, max_length=300)),
                ('pass_started_at', models.DateTimeField(blank=True, null=True)),
                ('scrubbed_at', models.DateTimeField(blank=True, help_text='When the last whole pass ended.', null=True)),
                ('busy_until', models.DateTimeField(blank=True, null=True)),
                ('object_count', models.PositiveIntegerField(default=0)),
                ('stored_bytes', models.PositiveBigIntegerField(default=0)),
                ('unusable', models.PositiveIntegerField(default=0)),
                ('damaged_indexes', models.PositiveIntegerField(default=0)),
                ('damaged_archives', models.JSONField(blank=True, default=list)),
                ('detail', models.TextField(blank=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'indexes': [models.Index(fields=['scrubbed_at'], name='storecheck_scrubbed')],
            },
        ),
    ]
