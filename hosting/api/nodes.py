"""Servers, platforms, sites, clients and backups: lists with filters and pages, detail, create.
Every queryset comes from hosting.access; creating goes through hosting.inventory / actions."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from ninja import Router, Schema, Status

from hosting import access, inventory, quotas
from hosting.api.common import (
    Cursor,
    Id,
    PageNumber,
    PerPage,
    Search,
    address,
    page_schema,
    paged,
    responses,
)
from hosting.listing import sites_matching
from hosting.models import Backup, Client, Platform, Server, Site
from hosting.offsite import locations

router = Router()


# --- Schemas --------------------------------------------------------------------------------

class ServerOut(Schema):
    id: int
    name: str
    hostname: str
    queue: str
    http: str
    db_engine: str
    verified_at: datetime | None


class PlatformOut(Schema):
    id: int
    name: str
    label: str  # "Drupal 10.3.1 (d10)": how the panel offers it
    server: int
    path: str
    drupal_version: str
    profiles: list[str]
    status: str
    clients: list[int]
    verified_at: datetime | None


class SiteOut(Schema):
    id: int
    domain: str
    aliases: list[str]
    alias_mode: str
    www_redirect: str
    platform: int
    client: int | None
    profile: str
    status: str
    disk_files_bytes: int
    disk_db_bytes: int
    disk_backup_bytes: int
    attention: str
    # For administrators only (empty, null for others): whose database, which other platform.
    attention_detail: str
    attention_platform: int | None
    verified_at: datetime | None
    created_at: datetime


class ClientOut(Schema):
    id: int
    name: str
    title: str
    max_sites: int | None
    max_disk_bytes: int | None


class ClientDetailOut(ClientOut):
    sites: int
    disk_bytes: int


class BackupOut(Schema):
    id: int
    site: int | None
    domain: str
    client: int | None
    size: int
    sha256: str
    kind: str
    created_at: datetime
    verified_at: datetime | None
    locations: list[str]  # "local" when the archive is on the server's disk, then each remote holding a copy


# A server's host name and queue, and a platform's path, are the provider's infrastructure: a
# client member reads them as empty strings (the fields stay, so one schema serves everyone).

def server_out(s: Server, *, admin: bool = True) -> dict[str, Any]:
    return {"id": s.pk, "name": s.name, "hostname": s.hostname if admin else "", "queue": s.queue if admin else "",
            "http": s.http, "db_engine": s.db_engine, "verified_at": s.verified_at}


def platform_out(p: Platform, *, admin: bool = True) -> dict[str, Any]:
    return {"id": p.pk, "name": p.name, "label": p.choice_label, "server": p.server_id,
            "path": p.path if admin else "", "drupal_version": p.drupal_version,
            "profiles": p.profiles, "status": p.status, "clients": [c.pk for c in p.clients.all()],
            "verified_at": p.verified_at}


def site_out(s: Site, *, admin: bool = False) -> dict[str, Any]:
    """A site as the API shows it; the attention's detail and the other platform only to ADMIN."""
    return {"id": s.pk, "domain": s.domain, "aliases": s.aliases, "alias_mode": s.alias_mode,
            "www_redirect": s.www_redirect, "platform": s.platform_id, "client": s.client_id,
            "profile": s.profile, "status": s.status, "disk_files_bytes": s.disk_files_bytes,
            "disk_db_bytes": s.disk_db_bytes, "disk_backup_bytes": s.disk_backup_bytes, "attention": s.attention,
            "attention_detail": s.attention_detail if admin else "",
            "attention_platform": s.attention_platform_id if admin else None, "verified_at": s.verified_at,
            "created_at": s.created_at}


def client_out(c: Client) -> dict[str, Any]:
    return {"id": c.pk, "name": c.name, "title": c.title, "max_sites": c.max_sites, "max_disk_bytes": c.max_disk_bytes}


def backup_out(b: Backup) -> dict[str, Any]:
    # The archive's path on the server is not shown: it is the host's layout, not the client's.
    return {"id": b.pk, "site": b.site_id, "domain": b.domain, "client": b.client_id, "size": b.size,
            "sha256": b.sha256, "kind": b.kind, "created_at": b.created_at, "verified_at": b.verified_at,
            "locations": locations(b, list(b.copies.all()))}


# --- Servers --------------------------------------------------------------------------------

@router.get("/servers", response=responses(page_schema(ServerOut)), tags=["servers"])
def list_servers(request: HttpRequest, q: Search = "", page: PageNumber = 1, per_page: PerPage = 50,
               cursor: Cursor = ""):
    qs = access.servers(request.user)
    if q:
        qs = qs.filter(name__icontains=q)
    admin = access.is_admin(request.user)
    return paged(qs.order_by("name", "id"), page, per_page, cursor, lambda s: server_out(s, admin=admin))


@router.get("/servers/{server_id}", response=responses(ServerOut), tags=["servers"])
def get_server(request: HttpRequest, server_id: Id):
    return server_out(access.access_server(request.user, server_id), admin=access.is_admin(request.user))


# --- Platforms ------------------------------------------------------------------------------

class PlatformIn(Schema):
    name: str
    path: str
    server: Id | None = None


@router.get("/platforms", response=responses(page_schema(PlatformOut)), tags=["platforms"])
def list_platforms(request: HttpRequest, q: Search = "", status: str = "", server: Id | None = None,
                   page: PageNumber = 1, per_page: PerPage = 50,
               cursor: Cursor = ""):
    qs = access.platforms(request.user).prefetch_related("clients")
    if q:
        qs = qs.filter(name__icontains=q)
    if status:
        qs = qs.filter(status=status)
    if server:
        qs = qs.filter(server_id=server)
    admin = access.is_admin(request.user)
    return paged(qs.order_by("name", "id"), page, per_page, cursor, lambda p: platform_out(p, admin=admin))


@router.get("/platforms/{platform_id}", response=responses(PlatformOut), tags=["platforms"])
def get_platform(request: HttpRequest, platform_id: Id):
    return platform_out(access.access_platform(request.user, platform_id), admin=access.is_admin(request.user))


@router.post("/platforms", response=responses(PlatformOut, 201), tags=["platforms"])
def create_platform(request: HttpRequest, payload: PlatformIn):
    """Record a platform (administrators) and queue its verify."""
    access.require_admin(request.user)
    server = access.access_server(request.user, payload.server) if payload.server else None
    platform, _task = inventory.add_platform(payload.name, payload.path, server=server, by=request.user,
                                             address=address(request))
    return Status(201, platform_out(platform))


# --- Sites ----------------------------------------------------------------------------------

class SiteIn(Schema):
    domain: str
    platform: Id
    client: Id | None = None
    profile: str = "standard"
    aliases: list[str] = []


@router.get("/sites", response=responses(page_schema(SiteOut)), tags=["sites"])
def list_sites(request: HttpRequest, q: Search = "", status: str = "", platform: Id | None = None,
               client: Id | None = None, page: PageNumber = 1, per_page: PerPage = 50,
               cursor: Cursor = ""):
    qs = sites_matching(request.user, q=q, status=status, platform=platform, client=client)
    admin = access.is_admin(request.user)
    return paged(qs.order_by("domain", "id"), page, per_page, cursor, lambda s: site_out(s, admin=admin))


@router.get("/sites/{site_id}", response=responses(SiteOut), tags=["sites"])
def get_site(request: HttpRequest, site_id: Id):
    return site_out(access.access_site(request.user, site_id), admin=access.is_admin(request.user))


@router.post("/sites", response=responses(SiteOut, 201), tags=["sites"])
def create_site(request: HttpRequest, payload: SiteIn):
    """Record a site and queue its install. A client's managers and members create sites for
    their client, on platforms open to it; administrators for any client or none."""
    user = request.user
    platform = access.access_platform(user, payload.platform)
    named = access.access_client(user, payload.client) if payload.client is not None else None
    client = inventory.client_for_new_site(user, named)
    site, _task = inventory.add_site(payload.domain, platform, client=client, profile=payload.profile,
                                     aliases=payload.aliases, by=user, address=address(request))
    return Status(201, site_out(site, admin=access.is_admin(user)))


class ResolveDuplicateIn(Schema):
    platform: Id


@router.post("/sites/{site_id}/resolve-duplicate", response=responses(dict, 202), tags=["sites"])
def resolve_duplicate(request: HttpRequest, site_id: Id, payload: ResolveDuplicateIn):
    """A site found on two platforms: say which platform's copy is the site (administrators).
    The record follows it; a verify sets the other copy aside. The answer is {"task": id}."""
    from hosting.actions import resolve_duplicate as resolve

    site = access.access_site(request.user, site_id)  # 404 before 403: another client's site is not there
    access.require_admin(request.user)
    platform = access.access_platform(request.user, payload.platform)
    task = resolve(site, platform, by=request.user, address=address(request))
    return Status(202, {"task": task.pk})


class AdoptDatabaseIn(Schema):
    database: str


@router.post("/sites/{site_id}/adopt-database", response=responses(dict, 202), tags=["sites"])
def adopt_database(request: HttpRequest, site_id: Id, payload: AdoptDatabaseIn):
    """A site imported without a database because its settings.php names one that no record
    does: confirm that it is the site's (administrators; `database` is the name the site's
    attention gives). Audited; a verify records it. The answer is {"task": id}."""
    from hosting.actions import adopt_database as adopt

    site = access.access_site(request.user, site_id)  # 404 before 403: another client's site is not there
    access.require_admin(request.user)
    task = adopt(site, payload.database, by=request.user, address=address(request))
    return Status(202, {"task": task.pk})


# --- Clients --------------------------------------------------------------------------------

@router.get("/clients", response=responses(page_schema(ClientOut)), tags=["clients"])
def list_clients(request: HttpRequest, q: Search = "", page: PageNumber = 1, per_page: PerPage = 50,
               cursor: Cursor = ""):
    qs = access.clients(request.user)
    if q:
        qs = qs.filter(name__icontains=q)
    return paged(qs.order_by("name", "id"), page, per_page, cursor, client_out)


@router.get("/clients/{client_id}", response=responses(ClientDetailOut), tags=["clients"])
def get_client(request: HttpRequest, client_id: Id):
    client = access.access_client(request.user, client_id)
    used = quotas.usage(client)
    return {**client_out(client), "sites": used["sites"], "disk_bytes": used["disk_bytes"]}


# --- Backups --------------------------------------------------------------------------------

class BackupIn(Schema):
    site: Id


@router.get("/backups", response=responses(page_schema(BackupOut)), tags=["backups"])
def list_backups(request: HttpRequest, site: Id | None = None, client: Id | None = None, kind: str = "",
                 deleted: bool = False, page: PageNumber = 1, per_page: PerPage = 50,
               cursor: Cursor = ""):
    """Every backup you may see, deleted sites' included; `deleted=true`: only deleted sites'."""
    qs = access.backups(request.user)
    if deleted:
        qs = qs.filter(Q(site__isnull=True) | Q(site__status=Site.DELETED))
    if site:
        qs = qs.filter(site_id=site)
    if client:
        qs = qs.filter(client_id=client)
    if kind:
        qs = qs.filter(kind=kind)
    ordered = qs.order_by("-created_at", "-id").prefetch_related("copies__remote")
    return paged(ordered, page, per_page, cursor, backup_out)


@router.get("/backups/{backup_id}", response=responses(BackupOut), tags=["backups"])
def get_backup(request: HttpRequest, backup_id: Id):
    return backup_out(access.access_backup(request.user, backup_id))


@router.delete("/backups/{backup_id}", response={204: None, **responses(dict)}, tags=["backups"])
def delete_backup(request: HttpRequest, backup_id: Id):
    """Delete the backup (archive and record). Who may back the site up may delete its backups;
    a deleted site's pre-delete backup only an administrator. 409 while a restore reads it."""
    from hosting import backupactions

    backup = access.access_backup(request.user, backup_id)
    backupactions.delete_backup(request.user, backup, address=address(request))
    return Status(204, None)


@router.post("/backups", response=responses(dict, 202), tags=["backups"])
def create_backup(request: HttpRequest, payload: BackupIn):
    """Queue a backup of the site; the answer is the queued task ({"task": id})."""
    from hosting.api.tasks import start_site_task

    task = start_site_task(request, payload.site, "backup", {})
    return Status(202, {"task": task.pk})
