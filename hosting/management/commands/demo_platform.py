"""`manage.py demo_platform PATH [--drupal 10|7|11] [--sites N] [--composer]`: build a Drupal-shaped
platform with a stand-in drush, for the demo and the tests (Drupal itself cannot be fetched here).

A relative PATH is taken from the current directory, and must still be inside the configured
roots. It never touches what exists: PATH must be absent or empty, and its sites take names
(site<N>.example.test) that no recorded site and no database file of the data directory has."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hosting.models import Site
from provision.demo import make_platform
from provision.errors import ProvisionError
from provision.paths import Roots


class Command(BaseCommand):
    help = "Create a Drupal-shaped platform (core version file, index.php, sites/, a stand-in drush)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="Where to build it (absent or empty, inside the configured roots).")
        parser.add_argument("--drupal", type=int, choices=[7, 10, 11], default=10,
                            help="The Drupal major version it imitates (default 10).")
        parser.add_argument("--sites", type=int, default=0,
                            help="Installed sites to create (0-1000), named site<N>.example.test after "
                                 "every name in use.")
        parser.add_argument("--composer", action="store_true", help="Composer layout with a web/ docroot.")

    def handle(self, *args, path: str, drupal: int, sites: int, composer: bool, **options) -> None:
        if not 0 <= sites <= 1000:
            raise CommandError("--sites must be between 0 and 1000.")
        try:
            target = Roots([Path(r) for r in settings.HARBORMASTER_ROOTS]).inside(Path.cwd() / path)
            if target.exists() and any(target.iterdir()):
                raise CommandError(f"{target} exists and is not empty.")
            made = make_platform(target, drupal=drupal, sites=sites, composer=composer,
                                 db_dir=Path(settings.HARBORMASTER_DATA_DIR) / "databases", taken=_recorded)
        except ProvisionError as exc:
            raise CommandError(str(exc)) from None
        docroot = made / "web" if composer else made
        names = sorted(p.name for p in (docroot / "sites").iterdir() if (p / "settings.php").is_file())
        self.stdout.write(f"Drupal {drupal} platform created at {made} with {sites} site(s)"
                          + (f": {', '.join(names)}" if names else ""))


def _recorded(domain: str) -> bool:
    return Site.objects.exclude(status=Site.DELETED).filter(domain=domain).exists()
