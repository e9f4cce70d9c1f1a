"""From records to provision's plain objects: a Server's database server and web server, a
platform's docroot, a site's directory, database and backups, every path checked to be inside
the configured roots before anything touches it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from hosting.models import Platform, Server, Site
from hosting.operations.common import roots
from provision import platform as provision_platform
from provision import sitefiles, web
from provision.db import DatabaseDriver, DatabaseServer, driver_for
from provision.errors import ProvisionError
from provision.paths import safe_name
from provision.runner import Runner
from provision.settings_php import DatabaseSettings
from provision.untrusted_settings import read_untrusted_settings
from provision.web import VhostSpec, WebConfig, WebServer, web_server_for
from provision.web.tls_templates import TlsSpec


def data_dir() -> Path:
    return Path(settings.HARBORMASTER_DATA_DIR)


# -- servers -------------------------------------------------------------------------------

def db_server(server: Server) -> DatabaseServer:
    """The server's database server; never shown with its password (DatabaseServer hides it)."""
    if server.db_engine == "sqlite":
        directory = roots().inside(server.sqlite_dir or data_dir() / "databases")
        return DatabaseServer("sqlite", sqlite_dir=directory, name=server.name)
    return DatabaseServer(server.db_engine, host=server.db_host or "127.0.0.1", port=server.db_port or 0,  # type: ignore[arg-type]
                          admin_user=server.db_admin_user, admin_password=server.db_admin_password,
                          name=server.name, user_host=server.db_user_host or "%")


def db_driver(server: Server) -> DatabaseDriver:
    return driver_for(db_server(server))


def web_config(server: Server) -> WebConfig:
    if server.http not in web.KINDS:
        raise ProvisionError(f"Server {server.name}: the {server.http} web server is not supported "
                             f"({web.supported()} are).")
    listen = tuple(v.strip() for v in (server.web_listen or "80").split(",") if v.strip()) or ("80",)
    tls_listen = tuple(v.strip() for v in (server.web_tls_listen or "443").split(",") if v.strip()) or ("443",)
    return WebConfig(
        kind=server.http,
        vhost_dir=roots().inside(server.web_conf_dir or data_dir() / "vhosts"),
        listen=listen,
        tls_listen=tls_listen,
        challenge_dir=challenge_dir(),
        main_config=Path(server.web_main_config) if server.web_main_config else None,
        prefix=Path(server.web_prefix) if server.web_prefix else None,
    )


def tls_dir() -> Path:
    """Account and certificate keys: outside every web root, never named by a site's files."""
    return data_dir() / "tls"


def challenge_dir() -> Path:
    """The ACME HTTP-01 tokens, served at /.well-known/acme-challenge/ by every vhost."""
    return data_dir() / "acme-challenge"


def web_server(server: Server, runner: Runner) -> WebServer:
    return web_server_for(web_config(server), runner)


# -- platforms -----------------------------------------------------------------------------

def platform_root(platform: Platform) -> Path:
    return roots().inside(platform.path, allow_root=False)


def docroot(platform: Platform) -> Path:
    """The platform's docroot (recorded by its verify, else detected now), inside the roots."""
    root = platform_root(platform)
    found = Path(platform.docroot) if platform.docroot else provision_platform.find_docroot(root)
    path = roots().inside(found)
    if path != root and not path.is_relative_to(root):
        raise ProvisionError(f"The docroot {path} of platform {platform.name} is not inside its path {root}.")
    return path


def drupal_major(platform: Platform) -> int:
    major = platform.major_version
    if major is None:
        raise ProvisionError(f"Platform {platform.name} has no known Drupal version: verify it first.")
    return major


def usable_platform(platform: Platform, *, for_new_site: bool) -> None:
    """Refuse a platform that is deleted, not verified, or (for a new or arriving site) locked."""
    if platform.status == Platform.DELETED:
        raise ProvisionError(f"Platform {platform.name} is deleted.")
    if for_new_site and platform.status == Platform.LOCKED:
        raise ProvisionError(f"Platform {platform.name} is locked: no new sites can be created on it.")
    if not platform.verified_at or not platform.drupal_version:
        raise ProvisionError(f"Platform {platform.name} has not been verified yet.")


# -- sites ---------------------------------------------------------------------------------

def site_dir(site: Site, platform: Platform | None = None) -> Path:
    """sites/<domain> of the site's (or PLATFORM's) docroot, inside the roots."""
    return sitefiles.locate(roots(), docroot(platform or site.platform), site.domain)


def backup_dir(domain: str) -> Path:
    from provision.domains import normalise_domain

    return roots().inside(Path(settings.HARBORMASTER_BACKUP_DIR) / normalise_domain(domain))


def vhost_spec(domain: str, aliases: list[str], platform: Platform, *, alias_mode: str = "serve",
               www_redirect: str = "", tls: TlsSpec | None | bool = True) -> VhostSpec:
    """DOMAIN's vhost on PLATFORM. TLS: True for what the live site's record says (its HTTPS
    mode and certificate), or the TlsSpec (None: HTTP only) a task is about to put in place."""
    root = docroot(platform)
    return VhostSpec(domain=domain, aliases=list(aliases or []), docroot=root,
                     site_dir=sitefiles.locate(roots(), root, domain),
                     php_fastcgi=platform.server.php_fastcgi or "127.0.0.1:9000",
                     alias_mode=alias_mode, www_redirect=www_redirect,
                     tls=recorded_tls(domain) if tls is True else (tls or None))


def site_vhost_spec(site: Site, platform: Platform | None = None, *, tls: TlsSpec | None | bool = True) -> VhostSpec:
    """SITE's vhost as its record says (its aliases, redirects and HTTPS), on PLATFORM (default its own)."""
    if tls is True and site.https_mode == Site.HTTPS_OFF:
        tls = None  # no certificate to look up: HTTP only
    return vhost_spec(site.domain, site.aliases, platform or site.platform, alias_mode=site.alias_mode,
                      www_redirect=site.www_redirect, tls=tls)


def tls_spec(site: Site, version: Path | str) -> TlsSpec:
    """SITE's HTTPS with the certificate in VERSION (a version directory under tls_dir())."""
    path = Path(version)
    if not path.is_relative_to(tls_dir() / "sites"):
        raise ProvisionError(f"The certificate of {site.domain} is not in the certificate directory.")
    return TlsSpec(fullchain=path / "fullchain.pem", key=path / "privkey.pem",
                   required=site.https_mode == Site.HTTPS_REQUIRED, hsts=site.https_hsts)


def recorded_tls(domain: str) -> TlsSpec | None:
    """The HTTPS of the live site DOMAIN as recorded: None when its mode is off or it has no
    certificate whose files are in place (then it is served over HTTP only)."""
    from hosting.models import Certificate

    cert = (Certificate.objects.select_related("site").filter(site__domain=domain)
            .exclude(site__status=Site.DELETED).exclude(path="").first())
    if cert is None or cert.site.https_mode == Site.HTTPS_OFF:
        return None
    spec = tls_spec(cert.site, cert.path)
    return spec if spec.fullchain.is_file() and spec.key.is_file() else None


def read_settings(directory: Path) -> DatabaseSettings:
    """The database of the site in DIRECTORY, read from its settings.php without PHP (a link
    is not followed, only a regular file of sane size is read: the client can write it)."""
    path = directory / "settings.php"
    try:
        found = read_untrusted_settings(path)
    except FileNotFoundError:
        raise ProvisionError(f"{path} is missing.") from None
    except OSError as exc:
        raise ProvisionError(f"{path} cannot be read: {exc.strerror}.") from None
    if found is None:
        raise ProvisionError(f"{path} has no database settings that can be read without PHP.")
    return found


@dataclass(frozen=True)
class SiteDatabase:
    """A site's database as the admin side reaches it: the driver, the name, the owner (the
    database its record owns: hosting.operations.ownership makes these)."""

    driver: DatabaseDriver
    name: str
    user: str
    inside_site: bool = False  # an SQLite file inside the site directory: it moves with it


def new_database_names(domain: str, driver: DatabaseDriver,
                       reserve: Callable[[str], bool] = lambda _name: True) -> tuple[str, str]:
    """A database and user name for DOMAIN that no site record and no database on the server
    uses yet (safe_name is lossy, so a numbered variant is tried when the first is taken).
    RESERVE(name) takes the name's lock for the task (False: another task holds it); the name
    is checked again once it is held, since a task may have recorded it just before."""
    live = Site.objects.exclude(status=Site.DELETED)
    used = set(live.values_list("db_name", flat=True))
    for attempt in range(100):
        suffix = "" if attempt == 0 else f"_{attempt}"
        name = safe_name(domain, driver.max_database - len(suffix)) + suffix
        user = safe_name(domain, driver.max_user - len(suffix)) + suffix
        if name in used or driver.database_exists(name):
            continue
        if driver.server.engine != "sqlite" and driver.user_exists(user):  # SQLite has no users
            continue
        if not reserve(name) or live.filter(db_name=name).exists() or driver.database_exists(name):
            continue
        return name, user
    raise ProvisionError(f"No free database name for {domain} on {driver.server.label}.")


def work_dir() -> Path:
    """Where temporary dumps go (a clone's copy of a database): private, inside the roots."""
    path = roots().inside(data_dir() / "tmp")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
