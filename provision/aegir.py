"""An Aegir 3 installation as its context files describe it (read, never run).

`read_contexts(DIR)` reads every `DIR/*.alias.drushrc.php` (Aegir's `~/.drush`) with the literal
reader of provision.aegir_php, and returns its servers, platforms and sites, plus every file that
was refused and why. Only what Aegir's provision writes is kept, with its types checked: a value
of the wrong type is a refused context, not a guess. Nothing here touches a database or a record.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.aegir_php import MAX_BYTES, PhpDataError, read_file, values

SUFFIX = ".alias.drushrc.php"
MAX_FILES = 20000


@dataclass(frozen=True)
class AegirServer:
    name: str  # the context name, without "@"
    file: str
    remote_host: str = "localhost"
    http: str = ""  # http_service_type: apache, nginx, ...
    db: str = ""  # db_service_type: mysql, ...


@dataclass(frozen=True)
class AegirPlatform:
    name: str
    file: str
    root: str
    server: str = "server_master"
    web_server: str = "server_master"
    makefile: str = ""


@dataclass(frozen=True)
class AegirSite:
    name: str
    file: str
    uri: str
    platform: str
    root: str = ""
    site_path: str = ""
    db_server: str = ""
    server: str = ""
    enabled: bool = True
    language: str = ""
    client_name: str = ""
    profile: str = ""
    aliases: tuple[str, ...] = ()
    redirection: str = ""  # the domain the aliases redirect to ("": none)
    https: str = ""  # "", "disabled", "enabled", "required"


@dataclass(frozen=True)
class Refused:
    file: str
    reason: str


@dataclass
class Installation:
    servers: dict[str, AegirServer] = field(default_factory=dict)
    platforms: dict[str, AegirPlatform] = field(default_factory=dict)
    sites: dict[str, AegirSite] = field(default_factory=dict)
    refused: list[Refused] = field(default_factory=list)
    ignored: list[Refused] = field(default_factory=list)  # contexts of other types (hostmaster's own)


def ref(value: Any) -> str:
    """A context reference ("@server_master") as a name ("server_master")."""
    return value[1:] if isinstance(value, str) and value.startswith("@") else value if isinstance(value, str) else ""


class _Bad(ValueError):
    pass


def _text(ctx: dict, key: str, default: str = "") -> str:
    value = ctx.get(key, default)
    if value is None or value is False:
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _Bad(f"{key!r} is not a string")
    if "\x00" in value or len(value) > 4096:
        raise _Bad(f"{key!r} holds a NUL byte or is too long")
    return value


_HTTPS = {0: "disabled", 1: "enabled", 2: "required", "0": "disabled", "1": "enabled", "2": "required"}


def _https(ctx: dict) -> str:
    """Aegir 3's hosting_https writes https_enabled, its older SSL support ssl_enabled: 0 off,
    1 enabled, 2 required (plain HTTP redirected)."""
    for key in ("https_enabled", "ssl_enabled"):
        if key in ctx:
            value = ctx[key]
            if isinstance(value, bool):
                value = int(value)
            if value not in _HTTPS:
                raise _Bad(f"{key!r} is not 0, 1 or 2")
            return _HTTPS[value]
    return ""


def _context(name: str, file: str, ctx: dict) -> AegirServer | AegirPlatform | AegirSite | None:
    kind = ctx.get("context_type")
    if kind == "server":
        return AegirServer(name, file, remote_host=_text(ctx, "remote_host", "localhost"),
                           http=_text(ctx, "http_service_type"), db=_text(ctx, "db_service_type"))
    if kind == "platform":
        return AegirPlatform(name, file, root=_text(ctx, "root"), server=ref(_text(ctx, "server", "@server_master")),
                             web_server=ref(_text(ctx, "web_server", "@server_master")),
                             makefile=_text(ctx, "makefile"))
    if kind == "site":
        aliases = ctx.get("aliases", {})
        if aliases is False or aliases is None or aliases == "":
            aliases = {}
        if isinstance(aliases, str):  # as provision's --aliases option takes them: comma-separated
            aliases = dict(enumerate(a.strip() for a in aliases.split(",") if a.strip()))
        if not isinstance(aliases, dict) or not all(isinstance(a, str) for a in values(aliases)):
            raise _Bad("'aliases' is not an array of strings")
        enabled = ctx.get("site_enabled", True)
        if not isinstance(enabled, (bool, int)):
            raise _Bad("'site_enabled' is not a boolean")
        # provision: a boolean (the aliases redirect to the uri); hosting_alias in Aegir 3 may
        # name the domain they redirect to instead.
        redirection = ctx.get("redirection", False)
        if redirection is True or redirection == 1:
            redirection = _text(ctx, "uri")
        return AegirSite(name, file, uri=_text(ctx, "uri"), platform=ref(_text(ctx, "platform")),
                         root=_text(ctx, "root"), site_path=_text(ctx, "site_path"),
                         db_server=ref(_text(ctx, "db_server")), server=ref(_text(ctx, "server")),
                         enabled=bool(enabled), language=_text(ctx, "language"),
                         client_name=_text(ctx, "client_name"), profile=_text(ctx, "profile"),
                         aliases=tuple(values(aliases)),
                         redirection=redirection if isinstance(redirection, str) else "",
                         https=_https(ctx))
    return None


def read_contexts(directory: Path, max_bytes: int = MAX_BYTES) -> Installation:
    """The contexts in DIRECTORY's *.alias.drushrc.php files (see the module docstring)."""
    found = Installation()
    files = sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX))
    if len(files) > MAX_FILES:
        found.refused.append(Refused(str(directory), f"more than {MAX_FILES} context files: none read"))
        return found
    for path in files:
        try:
            aliases = read_file(path, max_bytes).get("aliases", {})
        except PhpDataError as exc:
            found.refused.append(Refused(str(path), f"line {exc.line}: {exc.reason}" if exc.line else exc.reason))
            continue
        if not aliases:
            found.refused.append(Refused(str(path), "holds no $aliases entry"))
        for name, ctx in aliases.items():
            if not isinstance(name, str) or not isinstance(ctx, dict):
                found.refused.append(Refused(str(path), f"the entry {str(name)[:60]!r} is not an array"))
                continue
            try:
                context = _context(name, str(path), ctx)
            except _Bad as exc:
                found.refused.append(Refused(str(path), f"context {name[:60]!r}: {exc}"))
                continue
            if isinstance(context, AegirServer):
                found.servers[name] = context
            elif isinstance(context, AegirPlatform):
                found.platforms[name] = context
            elif isinstance(context, AegirSite):
                found.sites[name] = context
            else:
                found.ignored.append(Refused(str(path), f"context {name[:60]!r} has no server, platform or "
                                                        "site context_type"))
    return found


def read_drushrc(site_dir: Path) -> dict[str, Any]:
    """The $options of a site's drushrc.php ({} when there is none). PhpDataError when it is
    not the literal subset."""
    path = site_dir / "drushrc.php"
    if not path.exists() and not path.is_symlink():
        return {}
    return {str(k): v for k, v in read_file(path).get("options", {}).items()}


CLOAKED_HINT = ("settings.php takes its database from the web server's environment (Aegir's cloaked "
                "credentials): set $options['provision_db_cloaking'] = FALSE; in ~aegir/.drush/drushrc.php, "
                "verify the site in Aegir (it writes the credentials into settings.php), then import again")


def cloaked(settings: Path, limit: int = 256 * 1024) -> bool:
    """Whether the settings.php at SETTINGS reads its credentials from $_SERVER, as Aegir writes it
    with provision_db_cloaking (a link or anything but a regular file: False, it is not read)."""
    try:
        fd = os.open(settings, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, limit)
    finally:
        os.close(fd)
    return b"$_SERVER['db_name']" in head
