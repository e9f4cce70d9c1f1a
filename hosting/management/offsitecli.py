"""The `manage.py backups` actions of off-site copies (hosting.offsite):

    backups remote list [--json]
    backups remote add NAME --server S --kind sftp|s3 [--client C] [--option KEY=VALUE ...]
                       [--secret-file KEY=PATH ...]
    backups remote remove NAME --server S
    backups replicate --server S [--remote NAME]
    backups verify --remote NAME --server S [--backup ID]

Secrets are read from files (or `-` for standard input), never taken as argument values: a
command line is visible to every user of the host in `ps` and lands in shell histories.
replicate and verify --remote queue tasks (through hosting.starting) and print their ids."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from hosting import offsite
from hosting.management import taskcli
from hosting.models import BackupRemote, Client, Server
from hosting.refused import TaskRefused
from hosting.starting import ArgumentsInvalid, start_task
from provision.offsite import RemoteInvalid

ACTIONS = ("remote", "replicate")


def add_parsers(sub: Any) -> None:
    remote = sub.add_parser("remote", help="List, add or remove off-site remotes.")
    what = remote.add_subparsers(dest="remote_action", required=True)
    listing = what.add_parser("list", help="Every remote, with how far behind it is.")
    listing.add_argument("--json", action="store_true", help="As JSON.")
    add = what.add_parser("add", help="Record a remote of a server (or of one client on it).")
    add.add_argument("name", metavar="NAME", help="The remote's name (lower-case letters, digits, '_' or '-').")
    add.add_argument("--server", required=True, help="The server whose backups go there.")
    add.add_argument("--kind", required=True, choices=["sftp", "s3"], help="SFTP or S3-compatible storage.")
    add.add_argument("--client", help="Only this client's backups (its own storage).")
    add.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                     help="host, port, user, path, host_key (sftp); endpoint, region, bucket, path, provider (s3).")
    add.add_argument("--secret-file", action="append", default=[], metavar="KEY=PATH",
                     help="private_key, password (sftp); access_key_id, secret_access_key (s3): read from PATH "
                          "(- for standard input), never given on the command line.")
    remove = what.add_parser("remove", help="Forget a remote (what it holds stays there).")
    remove.add_argument("name", metavar="NAME", help="The remote's name.")
    remove.add_argument("--server", required=True, help="The remote's server.")
    replicate = sub.add_parser("replicate", help="Queue a replication of a server's backups to its remotes.")
    replicate.add_argument("--server", required=True, help="The server whose backups are copied.")
    replicate.add_argument("--remote", default="", help="Only this remote.")


def add_verify_options(verify: Any) -> None:
    verify.add_argument("--remote", metavar="NAME", help="Verify the copies on this remote instead (a task that "
                                                         "reads each back and re-hashes it).")
    verify.add_argument("--server", help="The remote's server (needed when several servers have one of that name).")
    verify.add_argument("--backup", type=int, help="With --remote: only this backup's copy.")


def _server(name: str | None, remote: str | None = None) -> Server:
    if name:
        server = Server.objects.filter(name=name).first()
        if server is None:
            raise CommandError(f"No server {name!r}.")
        return server
    found = list(Server.objects.filter(backup_remotes__name=remote).distinct()[:2])
    if len(found) != 1:
        raise CommandError(f"Say --server: {'no' if not found else 'more than one'} server has a remote {remote!r}.")
    return found[0]


def _secret(value: str) -> tuple[str, str]:
    key, _, path = value.partition("=")
    if not path:
        raise CommandError(f"--secret-file takes KEY=PATH, not {value!r}.")
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"Cannot read the {key} from {path}: {exc.strerror}.") from None
    return key, text if key == "private_key" else text.strip()


def _queue(command: BaseCommand, server: Server, kind: str, data: dict[str, Any]) -> None:
    try:
        task = start_task(taskcli.actor(), server, kind, data)
    except (TaskRefused, PermissionDenied, ArgumentsInvalid) as exc:
        raise CommandError(str(exc)) from None
    command.stdout.write(f"Queued task #{task.pk}: {task.type.label.lower()} on {server.name}.")


def verify_remote(command: BaseCommand, options: dict[str, Any]) -> None:
    server = _server(options.get("server"), options["remote"])
    data: dict[str, Any] = {"remote": options["remote"]}
    if options.get("backup"):
        data["backup"] = options["backup"]
    _queue(command, server, "verify-remote", data)


def handle(command: BaseCommand, action: str, options: dict[str, Any]) -> None:
    by = taskcli.actor()
    if action == "replicate":
        _queue(command, _server(options["server"]), "replicate", {"remote": options["remote"]})
        return
    sub = options["remote_action"]
    if sub == "list":
        rows = [{"id": b.remote.pk, "server": b.remote.server.name, "name": b.remote.name, "kind": b.remote.kind,
                 "client": b.remote.client.name if b.remote.client else None, "where": b.remote.where,
                 "enabled": b.remote.enabled, "behind": b.missing, "late": b.late,
                 "replicated_at": b.remote.replicated_at, "last_error": b.remote.last_error}
                for b in (offsite.behind(r) for r in offsite.remotes(by))]
        if options.get("json"):
            command.stdout.write(taskcli.as_json(rows))
        else:
            command.stdout.write(taskcli.table(["SERVER", "NAME", "CLIENT", "WHERE", "BEHIND", "LAST COPY"], (
                [r["server"], r["name"], r["client"] or "-", r["where"], r["behind"],
                 f"{r['replicated_at']:%Y-%m-%d %H:%M}" if r["replicated_at"] else "never"] for r in rows)))
        return
    server = _server(options["server"])
    if sub == "remove":
        row = BackupRemote.objects.filter(server=server, name=options["name"]).first()
        if row is None:
            raise CommandError(f"The server {server.name} has no remote {options['name']!r}.")
        offsite.remove_remote(by, row)
        command.stdout.write(f"Removed the remote {row.name} of {server.name} (what it holds stays there).")
        return
    client = None
    if options.get("client"):
        client = Client.objects.filter(name=options["client"]).first()
        if client is None:
            raise CommandError(f"No client {options['client']!r}.")
    opts = dict(pair.partition("=")[::2] for pair in options["option"])
    secrets = dict(_secret(value) for value in options["secret_file"])
    try:
        row = offsite.add_remote(by, server=server, client=client, name=options["name"], kind=options["kind"],
                                 options=opts, secrets=secrets)
    except RemoteInvalid as exc:
        raise CommandError(f"{exc.field}: {exc}") from None
    command.stdout.write(f"Added the remote {row.name} of {server.name}: {row.where}.")
