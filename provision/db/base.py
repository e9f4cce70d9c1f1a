"""What every site database driver offers (DESIGN §5), and the rules they share: identifiers
checked before they reach SQL, passwords kept out of argv, logs and messages."""
from __future__ import annotations

import abc
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from provision.errors import ProvisionError

if TYPE_CHECKING:
    from provision.runner import Runner
    from provision.settings_php import DatabaseSettings

Engine = Literal["mysql", "postgresql", "sqlite"]
ENGINES: tuple[str, ...] = ("mysql", "postgresql", "sqlite")

# Names we create are lower-case letters, digits and underscores only: they are then valid
# unquoted in every engine, in a file name and in a drush --db-url, and cannot carry a quote,
# a wildcard (`%`) or a path part. They must start with a letter or an underscore so that no
# name reads as a number.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

# Seconds to wait for a TCP connection: an unreachable server must fail a task quickly and
# retryably, not hang it until its deadline.
CONNECT_TIMEOUT = 5


@dataclass(frozen=True)
class DatabaseServer:
    """A database server sites get their databases on. `admin_password` never appears in a
    repr, a log line, an argv or an error message."""

    engine: Engine
    host: str = "127.0.0.1"
    port: int = 0
    admin_user: str = ""
    admin_password: str = field(default="", repr=False)
    sqlite_dir: Path | None = None
    name: str = ""
    # MySQL accounts are user@host: the host part the site users are created for (the
    # web servers' address; "%" = anywhere). Ignored by the other engines.
    user_host: str = "%"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ProvisionError(f"Unknown database engine {self.engine!r}; expected one of "
                                 f"{', '.join(ENGINES)}.")
        if self.engine == "sqlite" and self.sqlite_dir is None:
            raise ProvisionError("An SQLite database server needs a directory (sqlite_dir).")

    @property
    def label(self) -> str:
        """How the server is named in messages: never with credentials."""
        if self.engine == "sqlite":
            return f"SQLite in {self.sqlite_dir}"
        where = f"{self.host}:{self.port}" if self.port else self.host
        return f"{self.name or self.engine} ({where})"


def check_identifier(value: str, what: str, max_len: int) -> str:
    """Return VALUE if it is a safe database or user name of at most MAX_LEN characters, or
    raise a permanent ProvisionError saying why not. WHAT names it in the message."""
    if not isinstance(value, str) or not value:
        raise ProvisionError(f"The {what} is empty.")
    if len(value) > max_len:
        raise ProvisionError(f"The {what} {value[:max_len]!r}... is {len(value)} characters long; "
                             f"the limit here is {max_len}.")
    if not _IDENTIFIER.match(value):
        raise ProvisionError(f"The {what} {value[:80]!r} may hold only lower-case letters, digits "
                             "and underscores, and must not start with a digit.")
    return value


def redact(text: str, *secrets: str) -> str:
    """TEXT with every non-empty secret (and its URL-quoted form) replaced: database client
    libraries may echo part of a statement in an error, and a statement may hold a password."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "[secret]")
        quoted = urllib.parse.quote(secret, safe="")
        if quoted != secret:
            text = text.replace(quoted, "[secret]")
    return text


class DatabaseDriver(abc.ABC):
    """One engine's way of doing the few things sites need. Admin work goes through the
    client library with the server's admin account; dump and load stream through the engine's
    own programs run by the task's Runner."""

    #: Longest database and user names this engine takes.
    max_database: int = 64
    max_user: int = 32
    #: The driver name Drupal's settings.php uses.
    drupal_driver: str = ""

    #: Databases and accounts of the server itself, never dropped through a driver.
    _system_databases: frozenset[str] = frozenset()
    _system_users: frozenset[str] = frozenset()

    def __init__(self, server: DatabaseServer) -> None:
        self.server = server

    # -- admin ---------------------------------------------------------------------------

    @abc.abstractmethod
    def create_database(self, name: str) -> None:
        """Create NAME; raise if it already exists (its undo would drop someone else's data)."""

    @abc.abstractmethod
    def create_user(self, user: str, password: str) -> None:
        """Create the account USER; raise if it already exists."""

    @abc.abstractmethod
    def grant(self, name: str, user: str) -> None:
        """Give USER everything Drupal needs on database NAME, and nothing elsewhere."""

    @abc.abstractmethod
    def drop_database(self, name: str) -> None:
        """Drop NAME if it exists (idempotent: undo steps and retries call it)."""

    @abc.abstractmethod
    def drop_user(self, user: str) -> None:
        """Drop USER if it exists (idempotent)."""

    @abc.abstractmethod
    def database_exists(self, name: str) -> bool: ...

    @abc.abstractmethod
    def user_exists(self, user: str) -> bool: ...

    def set_password(self, user: str, password: str) -> None:
        """Give the existing account USER the password PASSWORD (verify's repair of a
        settings.php from the record: the new file and the account must agree)."""
        raise NotImplementedError

    def database_size(self, name: str) -> int:
        """Bytes database NAME takes on its server (data and indexes), for disk figures."""
        raise NotImplementedError

    @abc.abstractmethod
    def ping(self) -> float:
        """Return the latency of a trivial query in seconds; raise ProvisionError(permanent=
        False) when the server cannot be reached."""

    # -- data ----------------------------------------------------------------------------

    @abc.abstractmethod
    def dump(self, name: str, out: BinaryIO, runner: Runner) -> None:
        """Stream a plain SQL dump of NAME into OUT; never holds the dump in memory."""

    @abc.abstractmethod
    def load(self, name: str, src: BinaryIO, runner: Runner, *, owner: str | None = None) -> None:
        """Stream the SQL in SRC into the existing database NAME. OWNER, where the engine has
        object owners (PostgreSQL), is the site user who must own what the dump creates."""

    # -- what a site is given ------------------------------------------------------------

    @abc.abstractmethod
    def settings_for(self, name: str, user: str, password: str) -> DatabaseSettings:
        """The connection settings.php gets for database NAME."""

    @abc.abstractmethod
    def db_url(self, name: str, user: str, password: str) -> str:
        """The drush --db-url for database NAME. It holds the password: callers add it to
        their Runner's secrets before passing it on."""

    # -- shared helpers ------------------------------------------------------------------

    def check_database(self, name: str) -> str:
        return check_identifier(name, "database name", self.max_database)

    def check_user(self, user: str) -> str:
        return check_identifier(user, "database user name", self.max_user)

    def _refuse_system_database(self, name: str) -> None:
        if name in self._system_databases:
            raise ProvisionError(f"{name!r} is a system database of {self.server.label}; "
                                 "it is never created or dropped for a site.")

    def _refuse_system_user(self, user: str) -> None:
        if user in self._system_users or user == self.server.admin_user:
            raise ProvisionError(f"{user!r} is an administrative account of {self.server.label}; "
                                 "it is never created or dropped for a site.")

    def _unreachable(self, exc: BaseException) -> ProvisionError:
        """A retryable error for a server that cannot be reached, without the password."""
        reason = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                        self.server.admin_password)
        return ProvisionError(f"Cannot reach the database server {self.server.label} as "
                              f"{self.server.admin_user or 'the default user'}: {reason}",
                              permanent=False)

    def _failed(self, doing: str, exc: BaseException, *secrets: str) -> ProvisionError:
        reason = redact(str(exc).strip() or type(exc).__name__, self.server.admin_password, *secrets)
        return ProvisionError(f"Could not {doing} on {self.server.label}: {reason}")
