# Uploaded certificates and the ACME server's "not before" (rate limits).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('hosting', '0015_cron'),
    ]

    operations = [
        migrations.AddField(
            model_name='certificate',
            name='source',
            field=models.CharField(blank=True, default='acme', max_length=16),
        ),
        migrations.AddField(
            model_name='certificate',
            name='retry_not_before',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
