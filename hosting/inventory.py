"""Recording nodes: servers, platforms and sites. Each record is validated completely before
anything is written, and a new platform or site queues its first task (verify, install)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from hosting import access, audit, quotas
from hosting.actions import queue_task
from hosting.catalogue import ADDS_SITE
from hosting.models import Client, Platform, Server, Site, Task
from hosting.models.fields import validate_node_name
from hosting.operations.common import roots
from hosting.refused import TaskRefused
from provision.domains import normalise_domain
from provision.errors import InvalidDomain, UnsafePath


class InventoryError(Exception):
    """Bad input for a node; the message says what and why. Nothing was written."""


class QuotaRefused(InventoryError):
    """A client quota refused the node (the API answers 409 for it, not 400)."""


def local_server() -> Server:
    """The server of this host, created on first use with the embedded defaults (SQLite site
    databases under the data directory, vhosts written but not loaded)."""
    data = Path(settings.HARBORMASTER_DATA_DIR)
    # The server of this host's queue, whatever its name (a server recorded by hand may serve it).
    found = Server.objects.filter(queue=settings.HARBORMASTER_QUEUE).order_by("pk").first()
    if found is not None:
        return found
    server, _ = Server.objects.get_or_create(
        name=settings.HARBORMASTER_QUEUE,
        defaults={
            "queue": settings.HARBORMASTER_QUEUE,
            "hostname": "localhost",
            "http": "none",
            "web_conf_dir": str(data / "vhosts"),
            "db_engine": "sqlite",
            "sqlite_dir": str(data / "databases"),
        },
    )
    return server


def _name(value: str, what: str) -> str:
    try:
        validate_node_name(value)
    except ValidationError as exc:
        raise InventoryError(f"Bad {what} name: {' '.join(exc.messages)}") from None
    return value


def add_platform(name: str, path: str, *, server: Server | None = None, by: Any = None,
                 address: str | None = None, adopt_databases: bool = False) -> tuple[Platform, Task]:
    """Record a platform at PATH (inside the roots) and queue its verify. ADOPT_DATABASES (an
    operator's or administrator's word; callers check): the sites the verify imports take the
    databases their settings.php name even where Harbormaster did not create them (still never
    another site's, a system database or Harbormaster's own)."""
    name = _name(name, "platform")
    if "\x00" in path:
        raise InventoryError("The platform path contains a NUL byte.")
    try:
        resolved = roots().inside(Path(path))
    except UnsafePath as exc:
        raise InventoryError(str(exc)) from None
    server = server or local_server()
    with transaction.atomic():
        if Platform.objects.exclude(status=Platform.DELETED).filter(name=name).exists():
            raise InventoryError(f"A platform named {name!r} exists already.")
        if Platform.objects.exclude(status=Platform.DELETED).filter(path=str(resolved)).exists():
            raise InventoryError(f"A platform at {resolved} exists already.")
        platform = Platform.objects.create(name=name, path=str(resolved), server=server)
        audit.record(by, "platform.added", platform, address=address, after={"name": name, "path": str(resolved)})
        task = queue_task(platform, "verify", by=by, address=address,
                          args={"adopt_databases": True} if adopt_databases else None)
    return platform, task


def check_domain_free(domain: str) -> str:
    """DOMAIN normalised, or InventoryError when it is not a domain name or a live site has it."""
    try:
        domain = normalise_domain(domain)
    except InvalidDomain as exc:
        raise InventoryError(str(exc)) from None
    if Site.objects.exclude(status=Site.DELETED).filter(domain=domain).exists():
        raise InventoryError(f"A site {domain} exists already.")
    from hosting.sitenames import holder

    if holder(domain) is not None:
        # Another site's alias or www. redirect: whose is not said (it may be another client's).
        raise InventoryError(f"{domain} is taken: another site answers to it.")
    return domain


def platform_refusal(platform: Platform, client: Client | None) -> str | None:
    """Why no new site may be created on PLATFORM for CLIENT, or None."""
    if platform.status == Platform.LOCKED:
        return f"Platform {platform.name} is locked: no new sites can be created on it."
    if platform.status == Platform.DELETED:
        return f"Platform {platform.name} is deleted."
    if platform.status == Platform.QUEUED and not platform.verified_at:
        return f"Platform {platform.name} has not been verified yet."
    if client is not None and platform.clients.exists() and not platform.clients.filter(pk=client.pk).exists():
        return f"Platform {platform.name} is not open to client {client.name}."
    return None


def profile_refusal(platform: Platform, profile: str) -> str | None:
    """Why PROFILE cannot install a site on PLATFORM, or None. Only the profiles its verify found
    are checked: a platform recorded before verifies recorded them names none (the install says)."""
    if platform.profiles and profile not in platform.profiles:
        return (f"Platform {platform.name} has no install profile {profile!r}; "
                f"its profiles: {', '.join(platform.profiles)}.")
    return None


def client_for_new_site(user: Any, client: Client | None) -> Client | None:
    """The client a new site of USER's belongs to: CLIENT when named (administrators: any, or
    none; others: a client they act for), else a member's one acting client. PermissionDenied
    when USER may not create sites for it; InventoryError when a member of several names none."""
    if client is None and not access.is_admin(user):
        acting = access.client_ids(user, access.ACTING_ROLES)
        if len(acting) != 1:
            raise InventoryError("Name the client of the new site.")
        client = Client.objects.get(pk=acting[0])
    if not access.may_create_site(user, client):
        raise PermissionDenied("You may not create sites for this client.")
    return client


def add_site(domain: str, platform: Platform, *, client: Client | None = None, profile: str = "standard",
             aliases: list[str] | None = None, by: Any = None, address: str | None = None) -> tuple[Site, Task]:
    """Record a site on PLATFORM and queue its install."""
    domain = check_domain_free(domain)
    try:
        alias_list = sorted({normalise_domain(a) for a in (aliases or [])} - {domain})
    except InvalidDomain as exc:
        raise InventoryError(f"Bad alias: {exc}") from None
    profile = _name(profile, "profile")
    reason = platform_refusal(platform, client) or profile_refusal(platform, profile)
    if reason:
        raise InventoryError(reason)
    from hosting.sitenames import holder, names_lock

    with names_lock():  # the names are checked and recorded with no other claim in between
        for name in [domain, *alias_list]:
            if holder(name) is not None:
                raise InventoryError(f"{name} is taken: another site answers to it.")
        try:
            quotas.check(client, ADDS_SITE)
        except quotas.QuotaExceeded as exc:
            raise QuotaRefused(str(exc)) from None
        site = Site.objects.create(domain=domain, platform=platform, client=client, profile=profile,
                                   aliases=alias_list)
        audit.record(by, "site.added", site, address=address,
                     after={"domain": domain, "platform": platform.name, "client": client.name if client else None})
        try:
            task = queue_task(site, "install", by=by, address=address)
        except quotas.QuotaExceeded as exc:
            raise QuotaRefused(str(exc)) from None
        except TaskRefused as exc:
            raise InventoryError(str(exc)) from None
    return site, task
