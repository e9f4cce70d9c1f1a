"""A second Harbormaster instance for the tests that share a service between two instances: its
own SQLite control database, data directory and secret key, driven through subprocesses (this
test process is bound to the first instance's settings).

    python -m tests.security.other_instance migrate
    python -m tests.security.other_instance queue N      -> task ids, one JSON list
    python -m tests.security.other_instance states       -> {id: state}
"""
from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

BASE = Path(__file__).resolve().parents[2]


class OtherInstance:
    def __init__(self, root: Path, **env: str) -> None:
        self.root = root
        (root / "data" / "backups").mkdir(parents=True, exist_ok=True)
        (root / "platform").mkdir(exist_ok=True)
        self.database = root / "control.sqlite3"
        self.secret_key = secrets.token_urlsafe(48)
        self.extra = env

    def env(self) -> dict[str, str]:
        """What its processes run with (its qcluster too): everything of its own."""
        return {
            "DJANGO_SETTINGS_MODULE": "tests.engine.cluster_settings",
            "DATABASE_URL": f"sqlite:///{self.database}",
            "HARBORMASTER_DATA_DIR": str(self.root / "data"),
            "HARBORMASTER_BACKUP_DIR": str(self.root / "data" / "backups"),
            "HARBORMASTER_ROOTS": str(self.root),
            "HARBORMASTER_SECRET_KEY": self.secret_key,
            **self.extra,
        }

    def run(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "tests.security.other_instance", *args], cwd=BASE,
                              env={**os.environ, **self.env()}, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"other instance {args}: {done.stdout}\n{done.stderr}")
        return done.stdout

    def migrate(self) -> None:
        self.run("migrate")

    def queue(self, count: int) -> list[int]:
        return json.loads(self.run("queue", str(count)).splitlines()[-1])

    def states(self) -> dict[int, str]:
        with sqlite3.connect(self.database) as conn:
            return dict(conn.execute("SELECT id, state FROM hosting_task"))


def _queue(count: int) -> list[int]:
    from django.conf import settings

    from hosting.actions import queue_task
    from hosting.models import Platform, Server, Site

    server, _ = Server.objects.get_or_create(name="local", defaults={"queue": "local", "hostname": "localhost"})
    root = Path(settings.HARBORMASTER_ROOTS[0])
    platform, _ = Platform.objects.get_or_create(name="other", defaults={
        "server": server, "path": str(root / "platform"), "status": "enabled"})
    start = Site.objects.count()
    ids = []
    for i in range(start, start + count):
        site = Site.objects.create(domain=f"s{i}.other.test", platform=platform, status="enabled")
        task = queue_task(site, "verify", args={"steps": [{"name": "v", "sh": "true"}]})
        ids.append(task.pk)
    return ids


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(BASE))
    import django

    django.setup()
    from django.core.management import call_command

    if argv[0] == "migrate":
        call_command("migrate", verbosity=0)
    elif argv[0] == "queue":
        print(json.dumps(_queue(int(argv[1]))))


if __name__ == "__main__":
    main(sys.argv[1:])
