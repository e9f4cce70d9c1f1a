import sys

from django.apps import AppConfig


class HostingConfig(AppConfig):
    name = "hosting"
    label = "hosting"
    verbose_name = "Harbormaster"

    def ready(self) -> None:
        from hosting import checks  # noqa: F401  (registers the system checks)

        if sys.argv[1:2] == ["qcluster"]:
            # Wherever workers run, the engine's reaper runs too (hosting/engine/daemon.py).
            from hosting.engine.daemon import attach_to_qcluster

            attach_to_qcluster()
