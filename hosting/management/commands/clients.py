"""`manage.py clients invite CLIENT EMAIL [--role ROLE] [--no-email]`: invite someone to a client
and print the invitation's link (the token exists nowhere else), as the command line's operator
("cli:<login>"). The e-mail goes out as from the panel unless --no-email.

`clients create NAME [--title T] [--max-sites N ...]` and `clients edit NAME [--max-sites N|none ...]`
record a client and change its title and quotas with the panel's form (hosting.nodeforms)."""
from __future__ import annotations

from typing import Any, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models
from django.forms import model_to_dict

from hosting import invitations, nodeadmin
from hosting.management import taskcli
from hosting.models import Client, Membership
from hosting.nodeforms import CLIENT_FIELDS, ClientForm
from hosting.starting import describe_errors

QUOTAS = ("max_sites", "max_disk_bytes", "max_running_tasks")


def _add_quotas(parser: CommandParser) -> None:
    parser.add_argument("--title", help="The client's display name.")
    for field in QUOTAS:
        label = cast(models.Field, Client._meta.get_field(field)).verbose_name
        parser.add_argument(f"--{field.replace('_', '-')}", dest=field, metavar="N|none",
                            help=f"{label}: a number, or none for no limit.")


class Command(BaseCommand):
    help = "Record clients, change their quotas, and invite people to them."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        invite = sub.add_parser("invite", help="Invite EMAIL to CLIENT and print the link.")
        invite.add_argument("client", help="The client's name.")
        invite.add_argument("email", help="Who to invite.")
        invite.add_argument("--role", choices=[r for r, _ in Membership.ROLES], default=Membership.MEMBER,
                            help=f"Their role in the client (default {Membership.MEMBER}).")
        invite.add_argument("--no-email", action="store_true", help="Only print the link; send nothing.")
        create = sub.add_parser("create", help="Record a client.")
        create.add_argument("name", help="The client's name: lowercase letters, digits and dashes.")
        _add_quotas(create)
        edit = sub.add_parser("edit", help="Change a client's title and quotas.")
        edit.add_argument("client", help="The client's name.")
        _add_quotas(edit)

    def handle(self, *args: object, action: str, **options: Any) -> None:
        if action == "create":
            self._save(None, {"name": options["name"], **self._given(options)})
            return
        client = Client.objects.filter(name=str(options["client"])).first()
        if client is None:
            raise CommandError(f"No client named {options['client']!r}.")
        if action == "edit":
            self._save(client, self._given(options))
            return
        try:
            invitation, token = invitations.invite(client, options["email"], str(options["role"]),
                                                   by=taskcli.actor(), send=not options["no_email"])
        except invitations.InvitationError as exc:
            raise CommandError(str(exc)) from None
        sent = "not e-mailed" if options["no_email"] else "e-mailed"
        self.stderr.write(f"Invited {invitation.email} to {client.name} as {invitation.role} ({sent}); "
                          f"valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC.")
        self.stdout.write(invitations.link(token))

    @staticmethod
    def _given(options: dict[str, Any]) -> dict[str, Any]:
        given = {f: options[f] for f in ("title", *QUOTAS) if options.get(f) is not None}
        return {k: "" if str(v).lower() == "none" else v for k, v in given.items()}

    def _save(self, client: Client | None, given: dict[str, Any]) -> None:
        current = model_to_dict(client, fields=CLIENT_FIELDS) if client else {}
        data = {k: "" if v is None else v for k, v in {**current, **given}.items()}
        form = ClientForm(data, instance=client)
        if not form.is_valid():
            raise CommandError(describe_errors(form))
        if client is None:
            saved = nodeadmin.create_client(form, by=taskcli.actor())
            self.stdout.write(f"Client {saved.name} recorded")
        else:
            saved = nodeadmin.edit_client(form, by=taskcli.actor())
            self.stdout.write(f"Client {saved.name} saved")
