"""`manage.py users list [--json]`: every account with its e-mail, staff/superuser, clients and
roles, last login and whether it is active. A password is set with Django's own
`manage.py changepassword USERNAME`; a forgotten one is reset by e-mail from the login page."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from hosting import people
from hosting.management.taskcli import as_json, table


def _admin(p: people.Person) -> str:
    return "superuser" if p["is_superuser"] else "staff" if p["is_staff"] else "-"


class Command(BaseCommand):
    help = "List the people (accounts) of this instance."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List every account with its clients and roles.")
        listing.add_argument("--json", action="store_true", help="A JSON list of accounts as the API gives them.")
        listing.add_argument("--search", default="", help="Only usernames or e-mails containing this.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        found = [people.person(u) for u in people.people(options["search"])]
        if options["json"]:
            self.stdout.write(as_json(found))
            return
        self.stdout.write(table(["USERNAME", "EMAIL", "ADMIN", "CLIENTS", "LAST LOGIN", "ACTIVE"], (
            [p["username"], p["email"] or "-", _admin(p),
             ", ".join(f"{c['client']}:{c['role']}" for c in p["clients"]) or "-",
             f"{p['last_login']:%Y-%m-%d %H:%M}" if p["last_login"] else "never",
             "yes" if p["is_active"] else "no"] for p in found)))
