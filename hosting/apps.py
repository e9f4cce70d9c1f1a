import sys

from django.apps import AppConfig


class HostingConfig(AppConfig):
    name = "hosting"
    label = "hosting"
    verbose_name = "Harbormaster"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from hosting import checks  # noqa: F401  (registers the system checks)
        from hosting.schedules import ensure_schedules

        # The schedules are rows of django_q's tables: written after every migrate, so a fresh
        # install and an upgrade both get them without a separate step. Connected here, not when
        # the models are imported, so that importing a model pulls in nothing above it.
        post_migrate.connect(ensure_schedules, sender=self, dispatch_uid="hosting.ensure_schedules")

        if sys.argv[1:2] == ["qcluster"]:
            # Wherever workers run, the engine's reaper runs too (hosting/engine/daemon.py).
            from hosting.engine.daemon import attach_to_qcluster

            attach_to_qcluster()
