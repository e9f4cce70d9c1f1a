from django.apps import AppConfig


class HostingConfig(AppConfig):
    name = "hosting"
    label = "hosting"
    verbose_name = "Harbormaster"

    def ready(self) -> None:
        from hosting import checks  # noqa: F401  (registers the system checks)
