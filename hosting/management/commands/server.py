"""`manage.py server create NAME [--queue Q --http nginx --db-engine mysql ...]`, `server edit NAME
[--web-listen 8080 ...]` and `server list [--json]`: record or change a server with the panel's
form (hosting.nodeforms.ServerForm) and queue the verify that checks and applies it; print the
task id. The database password is read from HARBORMASTER_DB_ADMIN_PASSWORD, never from the
command line (where `ps` would show it)."""
from __future__ import annotations

import os
from typing import Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models
from django.forms import model_to_dict

from hosting import nodeadmin
from hosting.api.nodes import server_out
from hosting.management.taskcli import actor, as_json, table
from hosting.models import Server
from hosting.nodeforms import SERVER_FIELDS, ServerForm
from hosting.refused import TaskRefused
from hosting.starting import describe_errors

PASSWORD_VARIABLE = "HARBORMASTER_DB_ADMIN_PASSWORD"
# The settings given as --options (the name is the positional argument; the password comes from
# the environment; the queue only when creating).
OPTIONS = [f for f in SERVER_FIELDS if f not in ("name", "db_admin_password")]


def _add_settings(parser: CommandParser, *, new: bool) -> None:
    for field in OPTIONS:
        if field == "queue" and not new:
            continue
        model_field = cast(models.Field, Server._meta.get_field(field))
        choices = [c for c, _ in model_field.choices] if model_field.choices else None
        parser.add_argument(f"--{field.replace('_', '-')}", dest=field, choices=choices,
                            help=str(model_field.help_text or model_field.verbose_name).rstrip(".") + ".")
    if not new:
        parser.add_argument("--rename", help="A new name for the server.")


class Command(BaseCommand):
    help = "Record servers, change their settings (each followed by a verify), and list them."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Record a server and queue its verify task.")
        create.add_argument("name", help="The server's name, unique (the queue defaults to it).")
        _add_settings(create, new=True)
        edit = sub.add_parser("edit", help="Change a server's settings and queue the verify that applies them.")
        edit.add_argument("name", help="The server's name.")
        _add_settings(edit, new=False)
        listing = sub.add_parser("list", help="List servers.")
        listing.add_argument("--json", action="store_true", help="A JSON list of servers as the API gives them.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "list":
            servers = Server.objects.order_by("name")
            if options["json"]:
                self.stdout.write(as_json([server_out(s) for s in servers]))
                return
            self.stdout.write(table(["NAME", "HOST", "QUEUE", "WEB", "DATABASE"], (
                [s.name, s.hostname, s.queue, s.http, s.db_engine] for s in servers)))
            return
        given = {f: options[f] for f in OPTIONS if options.get(f) is not None}
        password = os.environ.get(PASSWORD_VARIABLE)
        if password is not None:
            given["db_admin_password"] = password
        fields = [f for f in SERVER_FIELDS if f != "db_admin_password"]
        if action == "create":
            # What is not given takes the model's defaults, as the panel's form shows them.
            data = {**model_to_dict(Server(), fields=fields), "name": options["name"], **given}
            form = ServerForm({k: "" if v is None else v for k, v in data.items()})
        else:
            server = Server.objects.filter(name=options["name"]).first()
            if server is None:
                raise CommandError(f"No server named {options['name']!r}.")
            if options.get("rename"):
                given["name"] = options["rename"]
            data = {**model_to_dict(server, fields=fields), **given}
            form = ServerForm({k: "" if v is None else v for k, v in data.items()}, instance=server)
        if not form.is_valid():
            raise CommandError(describe_errors(form))
        try:
            if action == "create":
                server, task = nodeadmin.create_server(form, by=actor())
            else:
                server, changed_task = nodeadmin.edit_server(form, by=actor())
                if changed_task is None:
                    self.stdout.write(f"Server {server.name}: nothing changed")
                    return
                task = changed_task
        except TaskRefused as exc:
            raise CommandError(f"Nothing saved: {exc}") from None
        verb = "recorded" if action == "create" else "changed"
        self.stdout.write(f"Server {server.name} {verb}; verify queued as task {task.pk}")
