"""Strict parsing of the environment. A bad value stops start-up with a message that names the
variable, the value's problem and what is expected; nothing is silently defaulted."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ImproperlyConfigured):
    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.variable = name


def raw(name: str, env: dict[str, str] | None = None) -> str | None:
    value = (env if env is not None else os.environ).get(name)
    return None if value is None else value.strip()


def get_str(name: str, default: str, env: dict[str, str] | None = None) -> str:
    value = raw(name, env)
    return default if value is None or value == "" else value


def get_bool(name: str, default: bool, env: dict[str, str] | None = None) -> bool:
    value = raw(name, env)
    if value is None:
        return default
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise ConfigError(name, f"expected 1/0, true/false, yes/no or on/off, got {value!r}")


def get_number(
    name: str, default: float, *, minimum: float = 0, maximum: float | None = None,
    integer: bool = False, env: dict[str, str] | None = None,
) -> float:
    value = raw(name, env)
    if value is None or value == "":
        return default
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(name, f"expected {kind}, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bounds = f"at least {minimum}" + (f" and at most {maximum}" if maximum is not None else "")
        raise ConfigError(name, f"must be {bounds}, got {value!r}")
    return number


def get_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None,
            env: dict[str, str] | None = None) -> int:
    return int(get_number(name, default, minimum=minimum, maximum=maximum, integer=True, env=env))


def get_list(name: str, default: list[str], sep: str = ",", env: dict[str, str] | None = None) -> list[str]:
    value = raw(name, env)
    if value is None or value == "":
        return list(default)
    return [item.strip() for item in value.split(sep) if item.strip()]


def get_trusted_proxies(name: str, env: dict[str, str] | None = None) -> list[str]:
    """`unix, 127.0.0.1, 10.0.0.0/8, ::1`: the proxies whose X-Forwarded-For is believed
    (hosting.clientaddress). `unix` is a peer without an address: gunicorn on a unix socket."""
    import ipaddress

    value = raw(name, env)
    found: list[str] = []
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        if part.lower() == "unix":
            found.append("unix")
            continue
        if part == "*":
            raise ConfigError(name, "'*' would believe any client's X-Forwarded-For; name the proxies' "
                                    "addresses or networks (or unix for a unix socket)")
        try:
            network = ipaddress.ip_network(part, strict=True)
        except ValueError as exc:
            raise ConfigError(name, f"{part!r} is not an IP address or network ({exc}); expected "
                                    "addresses or networks like 127.0.0.1, 10.0.0.0/8, ::1, or unix") from None
        found.append(str(network))
    return found


def get_dir(name: str, default: Path, base: Path, env: dict[str, str] | None = None) -> Path:
    value = raw(name, env)
    path = Path(value) if value else default
    if "\x00" in str(path):
        raise ConfigError(name, "contains a NUL byte")
    if not path.is_absolute():
        path = base / path
    return path.resolve()


def get_roots(name: str, default: list[Path], base: Path, env: dict[str, str] | None = None) -> list[Path]:
    value = raw(name, env)
    if not value:
        return [p.resolve() for p in default]
    roots = []
    for part in value.split(":"):
        part = part.strip()
        if not part:
            continue
        if "\x00" in part:
            raise ConfigError(name, "contains a NUL byte")
        path = Path(part)
        if not path.is_absolute():
            raise ConfigError(name, f"every root must be an absolute path, got {part!r}")
        if path == Path("/"):
            raise ConfigError(name, "'/' is not allowed as a root: it would let platforms and backups go anywhere")
        roots.append(path.resolve())
    if not roots:
        raise ConfigError(name, "names no directory")
    return roots


def get_deadlines(name: str, defaults: dict[str, int], env: dict[str, str] | None = None) -> dict[str, int]:
    """`install=3600,backup=7200`: per task type deadlines in seconds over the defaults."""
    result = dict(defaults)
    value = raw(name, env)
    if not value:
        return result
    for item in value.split(","):
        if not item.strip():
            continue
        kind, sep, seconds = item.partition("=")
        kind = kind.strip()
        if not sep or not kind:
            raise ConfigError(name, f"expected TYPE=SECONDS pairs separated by commas, got {item!r}")
        if kind not in defaults:
            raise ConfigError(name, f"unknown task type {kind!r}; known: {', '.join(sorted(defaults))}")
        try:
            number = int(seconds)
        except ValueError:
            raise ConfigError(name, f"deadline of {kind!r} must be whole seconds, got {seconds.strip()!r}") from None
        if number < 1 or number > 7 * 86400:
            raise ConfigError(name, f"deadline of {kind!r} must be between 1 s and 7 days, got {number}")
        result[kind] = number
    return result


@dataclass(frozen=True)
class DatabaseURL:
    engine: str
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""
    options: dict | None = None


def parse_database_url(name: str, value: str) -> DatabaseURL:
    """postgres://user:pass@host:port/db?sslmode=... or sqlite:////abs/path.sqlite3."""
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme in ("postgres", "postgresql", "pgsql"):
        db = unquote(parts.path.lstrip("/"))
        if not db:
            raise ConfigError(name, "a PostgreSQL URL needs a database name, like postgresql://user@127.0.0.1:5432/harbormaster")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(name, "the port is not a number") from None
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return DatabaseURL("postgresql", db, unquote(parts.username or ""), unquote(parts.password or ""),
                           parts.hostname or "", str(port or ""), options)
    if scheme == "sqlite":
        # sqlite:////srv/db.sqlite3 splits into an empty host and the path "//srv/db.sqlite3".
        path = unquote(parts.path)
        path = path[1:] if path.startswith("//") else path
        if parts.netloc or not path.startswith("/"):
            raise ConfigError(name, "an SQLite URL needs an absolute path, like sqlite:////srv/harbormaster/db.sqlite3")
        return DatabaseURL("sqlite", path)
    shown = f"{scheme}://..." if scheme else repr(value[:40])
    raise ConfigError(name, f"unsupported database URL {shown}; use postgresql://... or sqlite:////path")


@dataclass(frozen=True)
class EmailURL:
    backend: str
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False


_EMAIL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}


def parse_email_url(name: str, value: str) -> EmailURL:
    """smtp://user:pass@host:587?tls=1, smtps://host:465 (SSL), console://, locmem:// or dummy://."""
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme in _EMAIL_BACKENDS:
        return EmailURL(_EMAIL_BACKENDS[scheme])
    if scheme not in ("smtp", "smtps"):
        shown = f"{scheme}://..." if scheme else repr(value[:40])
        raise ConfigError(name, f"unsupported email URL {shown}; use smtp://, smtps://, console:// or dummy://")
    if not parts.hostname:
        raise ConfigError(name, "an SMTP URL needs a host, like smtp://user:pass@mail.example.com:587?tls=1")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(name, "the port is not a number") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"tls", "ssl"}
    if unknown:
        raise ConfigError(name, f"unknown option(s) {', '.join(sorted(unknown))}; known: tls, ssl")
    tls = get_bool(f"{name} ?tls", False, env={f"{name} ?tls": query.get("tls", "")})
    ssl = scheme == "smtps" or get_bool(f"{name} ?ssl", False, env={f"{name} ?ssl": query.get("ssl", "")})
    if tls and ssl:
        raise ConfigError(name, "choose tls=1 (STARTTLS) or ssl (smtps://), not both")
    return EmailURL("django.core.mail.backends.smtp.EmailBackend", parts.hostname,
                    port or (465 if ssl else 587 if tls else 25), unquote(parts.username or ""),
                    unquote(parts.password or ""), tls, ssl)


def get_base_url(name: str, default: str, env: dict[str, str] | None = None) -> str:
    """The panel's own address (links in notifications): http(s)://host[:port][/prefix]."""
    value = get_str(name, default, env)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(name, f"expected the panel's address like https://panel.example.com, got {value!r}")
    return value.rstrip("/")
