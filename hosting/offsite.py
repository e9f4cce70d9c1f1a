"""Off-site remotes of the backup stores: who may configure one, which backups go to it, where
each backup exists, and how far behind each remote is (decisions.md, "Off-site replication").

The work itself (copying, fetching, verifying) is done by the server.replicate and
server.verify-remote tasks (hosting.operations.offsite) and by restore, started through
hosting.starting like every task. A server's remote takes every backup of the server's sites; a
client's remote (on a server) only that client's, and a client manager configures only those."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from hosting import access, audit
from hosting.actor import SCHEDULER, Actor, is_operator
from hosting.models import Backup, BackupCopy, BackupRemote, Client, Membership, Server, Site, Task
from hosting.sealed import seal
from provision.offsite import check_remote
from provision.offsite.remote import OPTION_NAMES, SECRET_NAMES

_logger = logging.getLogger("hosting.offsite")


def remotes(user: Actor | None) -> QuerySet[BackupRemote]:
    """The remotes USER may see: every one for administrators (and operators), their clients'
    remotes for a client's people (only its managers change them: may_configure)."""
    qs = BackupRemote.objects.select_related("server", "client").order_by("server__name", "name")
    if is_operator(user) or access.is_admin(user):
        return qs
    return qs.filter(client_id__in=access.client_ids(user))


def servers_for(user: Actor | None, client: Client | None) -> QuerySet[Server]:
    """The servers USER may put a remote on: any for administrators; for a manager, the
    servers that hold sites of CLIENT."""
    if is_operator(user) or access.is_admin(user):
        return Server.objects.order_by("name")
    if client is None:
        return Server.objects.none()
    return Server.objects.filter(platforms__sites__client=client).distinct().order_by("name")


def may_configure(user: Actor | None, server: Server, client: Client | None) -> bool:
    if is_operator(user) or access.is_admin(user):
        return True
    return (client is not None and access.role(user, client.pk) == Membership.MANAGER
            and servers_for(user, client).filter(pk=server.pk).exists())


def add_remote(by: Actor | None, *, server: Server, client: Client | None, name: str, kind: str,
               options: dict[str, Any], secrets: dict[str, str], address: str | None = None) -> BackupRemote:
    """Record a remote; raises PermissionDenied, or RemoteInvalid naming the field. The secrets
    are sealed (hosting.sealed) and never written anywhere else: not the audit, not a log."""
    if not may_configure(by, server, client):
        raise PermissionDenied("You may not configure a remote for this server.")
    secrets = {k: v for k, v in secrets.items() if k in SECRET_NAMES.get(kind, ()) and v}
    if "private_key" in secrets:  # a browser's textarea sends CRLF line ends
        secrets["private_key"] = secrets["private_key"].replace("\r\n", "\n")
    options = {k: v for k, v in options.items() if k in OPTION_NAMES.get(kind, ()) and v not in (None, "")}
    checked = check_remote(name, kind, options, secrets)
    if not (is_operator(by) or access.is_admin(by)):
        _refuse_inside(checked)
    if BackupRemote.objects.filter(server=server, name=name).exists():
        from provision.offsite import RemoteInvalid

        raise RemoteInvalid("name", f"The server {server.name} has a remote named {name} already.")
    with transaction.atomic():
        remote = BackupRemote.objects.create(server=server, client=client, name=name, kind=kind, options=checked,
                                             sealed_secrets=seal(secrets))
        audit.record(by, "backup_remote.added", remote, client=client, address=address,
                     after={"server": server.name, "name": name, "kind": kind, "where": remote.where,
                            "secrets": sorted(secrets)})
    return remote


def _refuse_inside(options: dict[str, str]) -> None:
    """A remote a client configures is reached by the worker: it must not name the worker's own
    host or its private network (the control database, Redis, a database server's port...).
    Names are checked as written and as they resolve now."""
    import ipaddress
    import socket
    from urllib.parse import urlsplit

    from provision.offsite import RemoteInvalid

    field, host = ("host", options.get("host", "")) if "host" in options else \
        ("endpoint", urlsplit(options.get("endpoint", "")).hostname or "")
    if not host:
        return  # S3 without an endpoint: AWS
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        addresses = set()
    for address in addresses | ({host} if host.replace(".", "").isdigit() or ":" in host else set()):
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global:
            raise RemoteInvalid(field, f"{host[:80]} is a local or private address: ask an administrator "
                                       "to configure a remote inside the provider's network.")
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        raise RemoteInvalid(field, f"{host[:80]} is this host.")


def remove_remote(by: Actor | None, remote: BackupRemote, *, address: str | None = None) -> None:
    """Forget a remote (its records of copies with it). What it holds is left where it is."""
    if not may_configure(by, remote.server, remote.client):
        raise PermissionDenied("You may not remove this remote.")
    with transaction.atomic():
        audit.record(by, "backup_remote.removed", remote, client=remote.client, address=address,
                     before={"server": remote.server.name, "name": remote.name, "where": remote.where})
        remote.delete()


def scope(remote: BackupRemote) -> QuerySet[Backup]:
    """The backups that go to REMOTE."""
    qs = Backup.objects.filter(site__platform__server_id=remote.server_id)
    if remote.client_id is not None:
        qs = qs.filter(client_id=remote.client_id)
    return qs


@dataclass(frozen=True)
class Behind:
    remote: BackupRemote
    missing: int                  # backups of its scope not copied there yet
    oldest: datetime | None       # when the oldest of them was made
    late: bool                    # older than HARBORMASTER_OFFSITE_MAX_LAG

    @property
    def lag(self) -> timedelta:
        return timezone.now() - self.oldest if self.oldest else timedelta(0)

    def describe(self) -> str:
        from hosting.clusters import elapsed

        if not self.missing or self.oldest is None:
            return f"{self.remote.name}: up to date"
        return (f"{self.remote.name}: {self.missing} backup(s) not copied, the oldest made "
                f"{elapsed(timezone.now(), self.oldest)} ago")


def behind(remote: BackupRemote) -> Behind:
    missing = scope(remote).exclude(copies__remote=remote)
    figures = missing.aggregate(oldest=Min("created_at"))
    count = missing.count() if figures["oldest"] else 0
    oldest = figures["oldest"]
    late = bool(oldest and timezone.now() - oldest > timedelta(minutes=settings.HARBORMASTER_OFFSITE_MAX_LAG))
    return Behind(remote, count, oldest, late)


def status(user: Actor | None = None) -> list[Behind]:
    """How far behind each enabled remote USER may see is (all of them without USER)."""
    qs = remotes(user) if user is not None else BackupRemote.objects.select_related("server", "client")
    return [behind(r) for r in qs.filter(enabled=True)]


def locations(backup: Backup, copies: list[BackupCopy] | None = None) -> list[str]:
    """Where BACKUP exists: "local" when its archive is on this host's disk, then each remote."""
    from pathlib import Path

    found = ["local"] if Path(backup.path).is_file() else []
    rows = copies if copies is not None else list(backup.copies.select_related("remote"))
    return found + [c.remote.name for c in rows]


def restorable_copies(backup: Backup) -> QuerySet[BackupCopy]:
    """The remote copies a restore of BACKUP may fetch from: enabled remotes of its server, and
    a client's remote only for that client's backups."""
    return (BackupCopy.objects.filter(backup=backup, remote__enabled=True)
            .filter(Q(remote__client__isnull=True) | Q(remote__client_id=backup.client_id))
            .select_related("remote", "remote__server").order_by("-copied_at"))


def request_replication(server: Server, *, by: Actor = SCHEDULER) -> Task | None:
    """Queue server.replicate unless one is queued already or the server has no remote."""
    from hosting.refused import TaskRefused
    from hosting.starting import start_task

    if not BackupRemote.objects.filter(server=server, enabled=True).exists():
        return None
    if Task.objects.filter(server=server, kind="replicate", state=Task.QUEUED).exists():
        return None
    try:
        return start_task(by, server, "replicate", {})
    except (TaskRefused, PermissionDenied) as exc:
        _logger.warning("replication of %s not queued: %s", server.name, exc)
        return None


def after_backup(site: Site) -> None:
    """A backup of SITE was recorded: copy it off-site once the record is committed."""
    server_id = site.platform.server_id

    def queue() -> None:
        server = Server.objects.filter(pk=server_id).first()
        if server is not None:
            request_replication(server)

    transaction.on_commit(queue, robust=True)


def run_due_replications() -> list[int]:
    """The schedule (hosting.schedules): replicate each server whose remotes are behind or were
    not replicated for HARBORMASTER_OFFSITE_INTERVAL minutes."""
    queued: list[int] = []
    since = timezone.now() - timedelta(minutes=settings.HARBORMASTER_OFFSITE_INTERVAL)
    for server in Server.objects.filter(backup_remotes__enabled=True).distinct():
        due = [r for r in server.backup_remotes.filter(enabled=True)
               if r.replicated_at is None or r.replicated_at < since or behind(r).missing]
        if due and (task := request_replication(server)) is not None:
            queued.append(task.pk)
    return queued
