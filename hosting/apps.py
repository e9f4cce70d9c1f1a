import sys

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(**kwargs: object) -> None:
    from hosting.schedules import ensure_schedules

    ensure_schedules(**kwargs)


class HostingConfig(AppConfig):
    name = "hosting"
    label = "hosting"
    verbose_name = "Harbormaster"

    def ready(self) -> None:
        from hosting import checks  # noqa: F401  (registers the system checks)

        # Signals are connected here, not when a module is imported: importing the models must
        # not pull in the schedules and, through them, the actions.
        # The schedules are rows of django_q's tables: written after every migrate of this app,
        # so a fresh install and an upgrade both get them without a separate step.
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="hosting.ensure_schedules")
        _listen_for_batches()
        if sys.argv[1:2] == ["qcluster"]:
            # Wherever workers run, the engine's reaper runs too (hosting/engine/daemon.py).
            from hosting.engine.daemon import attach_to_qcluster

            attach_to_qcluster()


def _listen_for_batches() -> None:
    """Batch migrates go on when a child ends and once a beat (hosting.batches)."""
    from hosting import batches
    from hosting.engine import daemon, ending

    if batches.child_ended not in ending.ENDED:
        ending.ENDED.append(batches.child_ended)
    if batches.reconcile not in daemon.RECONCILE:
        daemon.RECONCILE.append(batches.reconcile)
