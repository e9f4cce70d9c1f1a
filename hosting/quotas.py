"""Client quotas (sites, disk used by sites and their backups), checked when work is created.

`check(client, effect)` is called by hosting.actions.queue_task for every task, with the quota
effect its catalogue entry declares, and by hosting.inventory.add_site before a site record is
written, so the panel, the API and the commands all refuse the same way with the same words."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery, Sum
from django.template.defaultfilters import filesizeformat

from hosting.catalogue import ADDS_SITE, GROWS_DISK
from hosting.models import Backup, Client, Site
from hosting.refused import TaskRefused


class QuotaExceeded(TaskRefused):
    """A quota of the client would be exceeded; the message says which and by how much."""


def sites_used(client: Client) -> int:
    return Site.objects.filter(client=client).exclude(status=Site.DELETED).count()


def disk_used(client: Client) -> int:
    """Bytes of the client's live sites (files + database) and of everything the backup store
    holds for its domains."""
    sites = Site.objects.filter(client=client).exclude(status=Site.DELETED).aggregate(
        files=Sum("disk_files_bytes"), db=Sum("disk_db_bytes"))
    return (sites["files"] or 0) + (sites["db"] or 0) + backup_bytes([client.pk]).get(client.pk, 0)


def backup_bytes(client_ids: list[int]) -> dict[int, int]:
    """{client id: bytes of its backups} in one grouped query. A domain's backup directory
    (archives, the object store's packs, loose objects and indexes) counts as measured at its
    last backup, on its newest measured site record of the client (deleted ones too: their
    backups stay); a domain never measured (backups older than the measuring) counts its
    archives' sizes."""
    measured = (Site.objects.filter(client_id=OuterRef("client_id"), domain=OuterRef("domain"),
                                    disk_backup_bytes__gt=0).order_by("-pk").values("disk_backup_bytes")[:1])
    rows = (Backup.objects.filter(client_id__in=client_ids).order_by().values("client_id", "domain")
            .annotate(size=Sum("size"), measured=Subquery(measured))
            .values_list("client_id", "size", "measured"))
    totals: dict[int, int] = {}
    for client_id, size, store in rows:
        totals[client_id] = totals.get(client_id, 0) + (store or size or 0)
    return totals


def usage(client: Client) -> dict[str, int | None]:
    return {"sites": sites_used(client), "max_sites": client.max_sites,
            "disk_bytes": disk_used(client), "max_disk_bytes": client.max_disk_bytes}


def usage_of(clients: list[Client]) -> dict[int, dict[str, int | None]]:
    """usage() of each of CLIENTS in two grouped queries, whatever their number (a list page)."""
    ids = [c.pk for c in clients]
    sites = {row["client_id"]: row for row in Site.objects.filter(client_id__in=ids).exclude(status=Site.DELETED)
             .values("client_id").annotate(n=Count("id"), files=Sum("disk_files_bytes"), db=Sum("disk_db_bytes"))}
    backups = backup_bytes(ids)
    found = {}
    for client in clients:
        own: Mapping[str, Any] = sites.get(client.pk, {})
        found[client.pk] = {"sites": own.get("n", 0), "max_sites": client.max_sites,
                            "disk_bytes": (own.get("files") or 0) + (own.get("db") or 0) + backups.get(client.pk, 0),
                            "max_disk_bytes": client.max_disk_bytes}
    return found


def check(client: Client | None, effect: str) -> None:
    """Raise QuotaExceeded when work with EFFECT (hosting.catalogue: ADDS_SITE, GROWS_DISK or
    NO_QUOTA) for CLIENT would pass a quota. Adding a site record is ADDS_SITE (add_site checks
    it before it writes the record); so is a clone."""
    if client is None or effect not in (ADDS_SITE, GROWS_DISK):
        return
    if transaction.get_connection().in_atomic_block:
        # Two creations for one client at the same moment must not both pass: the row lock on
        # the client serialises them until the caller's transaction commits (SQLite's
        # IMMEDIATE transactions serialise writers already).
        list(Client.objects.select_for_update().filter(pk=client.pk).values_list("pk", flat=True))
    if effect == ADDS_SITE and client.max_sites is not None:
        count = sites_used(client)
        if count + 1 > client.max_sites:
            raise QuotaExceeded(
                f"Client {client.name} has reached its quota of {client.max_sites} site(s) ({count} in use). "
                "Delete a site or ask an administrator to raise the quota.")
    if client.max_disk_bytes is not None:
        used = disk_used(client)
        if used >= client.max_disk_bytes:
            raise QuotaExceeded(
                f"Client {client.name} uses {filesizeformat(used)} of its {filesizeformat(client.max_disk_bytes)} "
                "disk quota (sites and backups). Delete backups or sites, or ask an administrator to raise it.")
