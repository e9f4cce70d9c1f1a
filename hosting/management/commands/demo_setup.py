"""`manage.py demo_setup`: what `make run` needs on a fresh machine: a demo admin (its password is
printed once), a demo client with a member, and a demo platform with a few sites, verified."""
from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from hosting.inventory import add_platform, local_server
from hosting.models import Client, Membership, Platform
from provision.demo import make_platform


class Command(BaseCommand):
    help = "Create the demo admin, client and platform (does nothing that is already there)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--sites", type=int, default=3, help="Sites of the demo platform (default 3).")

    def handle(self, *args, sites: int, **options) -> None:
        users = get_user_model()
        if not users.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            users.objects.create_superuser("admin", "admin@example.test", password)
            self.stdout.write(self.style.SUCCESS(
                f"Demo admin created: user 'admin', password '{password}' (shown this once)"))
        else:
            self.stdout.write("Demo admin 'admin' exists already (password unchanged).")
        client, _ = Client.objects.get_or_create(name="demo", defaults={"title": "Demo client"})
        if not users.objects.filter(username="demo").exists():
            password = secrets.token_urlsafe(12)
            user = users.objects.create_user("demo", "demo@example.test", password)
            Membership.objects.create(client=client, user=user, role=Membership.MANAGER)
            self.stdout.write(f"Demo client manager created: user 'demo', password '{password}' (shown this once)")
        local_server()
        if Platform.objects.filter(name="demo").exists():
            self.stdout.write("Demo platform exists already.")
            return
        path = Path(settings.HARBORMASTER_DATA_DIR) / "platforms" / "demo-d10"
        if not path.exists():
            make_platform(path, drupal=10, sites=sites, db_dir=Path(settings.HARBORMASTER_DATA_DIR) / "databases")
        # The demo sites' SQLite databases were made by demo_platform, not by installs this
        # instance ran: the setup confirms that they are the sites' own, as an operator would.
        platform, task = add_platform("demo", str(path), by="demo setup", adopt_databases=True)
        self.stdout.write(f"Demo platform at {path}; verify queued as task {task.pk}")
