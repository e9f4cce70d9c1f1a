"""What an import of an Aegir 3 installation would record, and what it passes over and why.

The plan is computed from the context files (provision.aegir, read as data), the disk (each
platform's root, each site's directory and settings.php, read as untrusted), and the records.
It writes nothing: hosting.aegir.record records a plan, and a second plan of the same directory
names as known what the first import recorded.

A site's database is planned under ownership.claim's rule (never one another record owns, never a
system database or Harbormaster's own, an SQLite file only inside the site or the server's SQLite
directory), with the administrator's confirmation the import carries; the verify each imported
site gets records it only after reaching it, under the database's lock (ownership.take).
"""
from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError

from hosting.models import Client, Platform, Server, Site
from hosting.models.fields import validate_node_name
from hosting.operations import ownership, resources
from hosting.operations.common import roots
from provision import aegir
from provision import platform as provision_platform
from provision.aegir_php import PhpDataError
from provision.domains import normalise_domain
from provision.errors import InvalidDomain, ProvisionError, UnsafePath

_LOCAL = {"localhost", "127.0.0.1", "::1", ""}


@dataclass
class PlannedPlatform:
    context: str
    name: str
    path: str
    docroot: Path
    record: Platform | None = None  # recorded already (at this path): reused, not imported again
    makefile: str = ""


@dataclass
class PlannedSite:
    context: str
    domain: str
    platform: PlannedPlatform
    status: str
    profile: str
    client: str = ""  # the client's name in Harbormaster ("": none)
    aliases: list[str] = field(default_factory=list)
    adopt: str = ""  # the database name the verify takes on the import's confirmation
    database: str = ""  # what the site's database is, for the plan's reader
    aegir: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    kind: str  # file, server, platform, site
    name: str
    reason: str


@dataclass
class Plan:
    directory: str
    server: Server
    servers: list[dict[str, str]] = field(default_factory=list)
    platforms: list[PlannedPlatform] = field(default_factory=list)
    sites: list[PlannedSite] = field(default_factory=list)
    known_sites: list[str] = field(default_factory=list)  # imported by an earlier run
    clients_new: list[str] = field(default_factory=list)
    clients_existing: list[str] = field(default_factory=list)
    client_titles: dict[str, str] = field(default_factory=dict)  # name -> Aegir's client_name
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def new_platforms(self) -> list[PlannedPlatform]:
        return [p for p in self.platforms if p.record is None]

    def counts(self) -> dict[str, int]:
        return {"platforms": len(self.new_platforms), "platforms_known": len(self.platforms) - len(self.new_platforms),
                "sites": len(self.sites), "sites_known": len(self.known_sites), "clients": len(self.clients_new),
                "aliases": sum(len(s.aliases) for s in self.sites),
                "redirects": sum(1 for s in self.sites if s.aegir.get("redirection")),
                "https": sum(1 for s in self.sites if s.aegir.get("https") in ("enabled", "required")),
                "skipped": len(self.skipped)}


def slug(text: str) -> str:
    """TEXT as a node name (lower-case letters, digits, '.', '_', '-'); "" when nothing is left."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:63].strip("-._")
    try:
        validate_node_name(name)
    except ValidationError:
        return ""
    return name


def local_names(server: Server) -> set[str]:
    names = set(_LOCAL) | {server.hostname.lower()}
    for name in (socket.gethostname(), socket.getfqdn()):
        names.add(name.lower())
    return names


def build(directory: Path, server: Server) -> Plan:
    """The plan of importing the Aegir installation whose context files are in DIRECTORY onto SERVER."""
    plan = Plan(directory=str(directory), server=server)
    try:
        found = aegir.read_contexts(directory)
    except OSError as exc:
        from hosting.inventory import InventoryError

        raise InventoryError(f"Cannot read {directory}: {exc.strerror}.") from None
    for refused in found.refused:
        plan.skipped.append(Skipped("file", refused.file, refused.reason))
    local = local_names(server)
    usable: set[str] = set()
    for srv in found.servers.values():
        is_local = srv.remote_host.lower() in local
        plan.servers.append({"context": srv.name, "host": srv.remote_host, "http": srv.http, "db": srv.db,
                             "maps_to": server.name if is_local else ""})
        if is_local:
            usable.add(srv.name)
        else:
            plan.skipped.append(Skipped("server", srv.name, f"on another host ({srv.remote_host[:100]}): run the "
                                                            "import on that host's Harbormaster server"))
    by_context: dict[str, PlannedPlatform] = {}
    for ctx in found.platforms.values():
        planned = _platform(plan, ctx, usable, {p.name for p in plan.platforms})
        if planned is not None:
            plan.platforms.append(planned)
            by_context[ctx.name] = planned
    _sites(plan, found, by_context)
    return plan


def _platform(plan: Plan, ctx: aegir.AegirPlatform, usable: set[str], taken: set[str]) -> PlannedPlatform | None:
    def skip(reason: str) -> None:
        plan.skipped.append(Skipped("platform", ctx.name, reason))

    if ctx.server not in usable:
        skip(f"its server {ctx.server} is not this host's (or has no context file)")
        return None
    if ctx.name.startswith("hostmaster") or ctx.name.startswith("platform_hostmaster"):
        skip("Aegir's own front end (hostmaster): switch it off after the import")
        return None
    if not ctx.root:
        skip("its context names no root")
        return None
    try:
        path = roots().inside(Path(ctx.root))
    except UnsafePath as exc:
        skip(f"root outside HARBORMASTER_ROOTS: {exc}")
        return None
    if not path.is_dir():
        skip(f"platform root gone: {path} is not a directory")
        return None
    same = next((p for p in plan.platforms if p.path == str(path)), None)
    if same is not None:
        skip(f"same root as {same.context}, which is imported")
        return None
    record = Platform.objects.exclude(status=Platform.DELETED).filter(path=str(path)).first()
    if record is not None:
        if record.server_id != plan.server.pk:
            skip(f"its root is recorded as platform {record.name} of another server")
            return None
        return PlannedPlatform(ctx.name, record.name, str(path), resources.docroot(record), record, ctx.makefile)
    base = slug(ctx.name.removeprefix("platform_")) or "aegir-platform"
    name, n = base, 1
    live = set(Platform.objects.exclude(status=Platform.DELETED).values_list("name", flat=True))
    while name in live or name in taken:
        n += 1
        name = f"{base[:58]}-{n}"
    return PlannedPlatform(ctx.name, name, str(path), provision_platform.find_docroot(path), None, ctx.makefile)


def _sites(plan: Plan, found: aegir.Installation, platforms: dict[str, PlannedPlatform]) -> None:
    live = {d: (ctx or {}).get("context", "") for d, ctx in
            Site.objects.exclude(status=Site.DELETED).values_list("domain", "aegir")}
    live_aliases = {a for aliases in Site.objects.exclude(status=Site.DELETED).values_list("aliases", flat=True)
                    for a in (aliases or [])}
    clients = set(Client.objects.values_list("name", flat=True))
    scans: dict[Path, dict[str, Any]] = {}
    planned_domains: set[str] = set()
    claimed: set[str] = set()
    for ctx in sorted(found.sites.values(), key=lambda s: s.name):
        site = _site(plan, ctx, platforms, live, scans, planned_domains, claimed)
        if site is None:
            continue
        site.aliases = _aliases(site, ctx, live, live_aliases, planned_domains)
        if ctx.client_name:
            name = slug(ctx.client_name)
            if not name:
                site.notes.append(f"client {ctx.client_name[:60]!r} has no usable name: the site has no client")
            else:
                site.client = name
                bucket = plan.clients_existing if name in clients else plan.clients_new
                if name not in bucket:
                    bucket.append(name)
                    plan.client_titles[name] = ctx.client_name[:200]
        for other in plan.platforms:
            if other is not site.platform and (other.docroot / "sites" / site.domain).is_dir():
                site.notes.append(f"also on disk on platform {other.name}: its verify asks which copy is the site")
        plan.sites.append(site)
        planned_domains.add(site.domain)


def _site(plan: Plan, ctx: aegir.AegirSite, platforms: dict[str, PlannedPlatform], live: dict[str, str],
          scans: dict[Path, dict[str, Any]], planned: set[str], claimed: set[str]) -> PlannedSite | None:
    def skip(reason: str, name: str = "") -> None:
        plan.skipped.append(Skipped("site", name or ctx.uri[:253] or ctx.name, reason))

    if ctx.profile == "hostmaster":
        skip("Aegir's own front end (hostmaster): switch it off after the import")
        return None
    if "/" in ctx.uri or ":" in ctx.uri:
        skip("uri with a path (or a port): Harbormaster serves a site at the root of its domain")
        return None
    try:
        domain = normalise_domain(ctx.uri)
    except InvalidDomain as exc:
        skip(f"uri is not a domain: {exc}")
        return None
    platform = platforms.get(ctx.platform)
    if platform is None:
        skip(f"its platform {ctx.platform or '(none)'} is not imported (see the platforms skipped)", domain)
        return None
    if domain in live:
        if live[domain] == ctx.name:
            plan.known_sites.append(domain)
        else:
            skip("domain already recorded", domain)
        return None
    if domain in planned:
        skip("another context of this import has the same domain", domain)
        return None
    directory = platform.docroot / "sites" / domain
    if directory.is_symlink() or not directory.is_dir():
        skip(f"site directory missing: {directory} is not a directory", domain)
        return None
    if ctx.site_path and Path(ctx.site_path).resolve() != directory.resolve():
        skip(f"its site_path {ctx.site_path[:200]} is not its platform's sites/{domain}", domain)
        return None
    if platform.docroot not in scans:
        discovery = provision_platform.scan_sites(platform.docroot)
        scans[platform.docroot] = {s.domain: s for s in discovery.sites}
        scans[platform.docroot].update({f"skip:{s.name}": s.reason for s in discovery.skipped})
    disk = scans[platform.docroot].get(domain)
    if disk is None:
        skip(f"sites/{domain} {scans[platform.docroot].get(f'skip:{domain}', 'has no settings.php')}", domain)
        return None
    if disk.db is None:
        if aegir.cloaked(directory / "settings.php"):
            skip(aegir.CLOAKED_HINT, domain)
        else:
            skip(disk.note or "settings.php has no database that can be read without PHP", domain)
        return None
    found = ownership.claim(disk.db, server=plan.server, directory=directory, domain=domain, confirmed=True)
    if found.problem:
        skip(f"database: {found.problem.full}", domain)
        return None
    name = found.fields.get("db_name", "")
    if name and name in claimed:
        skip(f"database {name!r} is named by another site of this import", domain)
        return None
    if name:
        claimed.add(name)
    where = f"{name} on {plan.server.name}" if name else f"sites/{domain}/{found.fields['db_file']}"
    site = PlannedSite(ctx.name, domain, platform, Site.ENABLED if ctx.enabled else Site.DISABLED,
                       slug(ctx.profile) or "standard", adopt=name, database=where)
    site.aegir = {"context": ctx.name, "platform": ctx.platform, "language": ctx.language[:16],
                  "redirection": _domain_or_empty(ctx.redirection), "https": ctx.https}
    _drushrc(site, directory)
    return site


def _drushrc(site: PlannedSite, directory: Path) -> None:
    try:
        options = aegir.read_drushrc(directory)
    except (PhpDataError, ProvisionError, OSError) as exc:
        site.notes.append(f"drushrc.php not read: {exc}")
        return
    named = options.get("db_name")
    if isinstance(named, str) and named and site.adopt and named != site.adopt:
        site.notes.append(f"drushrc.php names the database {named[:64]!r}, settings.php {site.adopt!r}: "
                          "settings.php is what the site uses")


def _domain_or_empty(value: str) -> str:
    try:
        return normalise_domain(value) if value else ""
    except InvalidDomain:
        return ""


def _aliases(site: PlannedSite, ctx: aegir.AegirSite, live: dict[str, str], live_aliases: set[str],
             planned: set[str]) -> list[str]:
    kept: list[str] = []
    for alias in ctx.aliases:
        try:
            name = normalise_domain(alias)
        except InvalidDomain:
            site.notes.append(f"alias {alias[:80]!r} is not a domain: left out")
            continue
        if name == site.domain or name in kept:
            continue
        if name in live or name in live_aliases or name in planned:
            site.notes.append(f"alias {name} belongs to another site: left out")
            continue
        kept.append(name)
    return kept
