"""`manage.py clients invite CLIENT EMAIL [--role ROLE] [--no-email]`: invite someone to a client
and print the invitation's link (the token exists nowhere else), as the command line's operator
("cli:<login>"). The e-mail goes out as from the panel unless --no-email."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosting import invitations
from hosting.management import taskcli
from hosting.models import Client, Membership


class Command(BaseCommand):
    help = "Invite people to clients."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        invite = sub.add_parser("invite", help="Invite EMAIL to CLIENT and print the link.")
        invite.add_argument("client", help="The client's name.")
        invite.add_argument("email", help="Who to invite.")
        invite.add_argument("--role", choices=[r for r, _ in Membership.ROLES], default=Membership.MEMBER,
                            help=f"Their role in the client (default {Membership.MEMBER}).")
        invite.add_argument("--no-email", action="store_true", help="Only print the link; send nothing.")

    def handle(self, *args: object, action: str, **options: object) -> None:
        client = Client.objects.filter(name=str(options["client"])).first()
        if client is None:
            raise CommandError(f"No client named {options['client']!r}.")
        try:
            invitation, token = invitations.invite(client, options["email"], str(options["role"]),
                                                   by=taskcli.actor(), send=not options["no_email"])
        except invitations.InvitationError as exc:
            raise CommandError(str(exc)) from None
        sent = "not e-mailed" if options["no_email"] else "e-mailed"
        self.stderr.write(f"Invited {invitation.email} to {client.name} as {invitation.role} ({sent}); "
                          f"valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC.")
        self.stdout.write(invitations.link(token))
