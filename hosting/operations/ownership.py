"""Which database a site owns. Its record says: db_name and db_user on its platform's database
server, or db_file, an SQLite file inside its own directory. settings.php is the client's file:
it is compared with the record and never obeyed, since every task acts on the database with the
server's admin account (a settings.php naming another site's database would otherwise have that
site's rows backed up, cloned, replaced or dropped).

The site's password still comes from settings.php (passwords are not stored in the control
database), and it is only ever used for the recorded user on the recorded server.

`claim()` is the one rule for taking a database into a record that has none (a platform verify's
import, a verify of a record that lost its database fields): never one that another live site
owns, never an SQLite file outside the site's directory (or the server's SQLite directory),
never a database on another server, never a system database or administrative account, never
Harbormaster's own control database. A database of the server that Harbormaster did not record
for the site (made out of band: by another provider's tool, by hand, by another tenant) is taken
only with an administrator's confirmation (hosting.actions.adopt_database); until then the site
needs attention. `take()` is claim() under the lock `db:<server id>:<name>`, held until the task
ends, so that two tasks recording the same database at the same moment cannot both win.

Every problem found here is said twice (`Problem`): to the site's client, naming only what is the
site's own, and to administrators with the other site's domain, database or path. A client who
points settings.php at other names must not learn from the answer whose they are."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from django.db import IntegrityError
from django.db.models import Exists, OuterRef, Q

from hosting.engine.steps import Context
from hosting.models import Lock, Platform, Server, Site, Task
from hosting.operations import resources
from hosting.operations.controldb import control_database
from provision.db.sqlite import SQLiteDriver
from provision.errors import ProvisionError
from provision.settings_php import DatabaseSettings
from provision.sitedb import ENGINE_OF, SQLiteFileDriver, sqlite_file

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}
_DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}
REPAIR_HINT = "Verify the site with repair_settings to rewrite settings.php from the record."


def docroot_of(directory: Path) -> Path:
    """The Drupal root of sites/<domain> (or of a hidden sites/.<work dir>): relative SQLite
    paths in settings.php are read from there, as Drupal does."""
    return directory.parent.parent


@dataclasses.dataclass(frozen=True)
class Problem:
    """Why a database is not the site's: `text` for everyone who may see the site (its client),
    `detail` for administrators (it may name another client's site, database or path)."""
    text: str = ""
    detail: str = ""

    def __bool__(self) -> bool:
        return bool(self.text)

    @property
    def full(self) -> str:
        return self.detail or self.text

    def error(self, text: str = "") -> ProvisionError:
        return ProvisionError(text or self.text, detail=self.detail)


OK = Problem()


# -- the record ------------------------------------------------------------------------------

def on_server(server: Server, name: str, user: str) -> resources.SiteDatabase:
    """The database NAME (owner USER) on SERVER, as the admin side reaches it."""
    driver = resources.db_driver(server)
    driver.check_database(name)
    return resources.SiteDatabase(driver, name, user if server.db_engine != "sqlite" else "")


def inside_site(directory: Path, relative: str) -> resources.SiteDatabase:
    """The SQLite file RELATIVE to the site DIRECTORY. A link (of the file or a folder on the
    way) that leads out of the directory is refused: the file would be another site's."""
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ProvisionError(f"The recorded SQLite file {relative!r} is not a path inside the site directory.")
    path = directory / rel
    base = directory.resolve()
    real = path.resolve()
    if not real.is_relative_to(base) or real == base:
        raise ProvisionError(f"The site's SQLite file {path} leads outside the site directory; it is not "
                             "used. Put the database file back inside the site.",
                             detail=f"The SQLite file {path} leads to {real}.")
    return resources.SiteDatabase(SQLiteFileDriver(real), real.name, "", inside_site=True)


def recorded(site: Site, directory: Path) -> resources.SiteDatabase | None:
    """The database SITE's record owns, with the site's directory at DIRECTORY (None: none)."""
    if site.db_file:
        return inside_site(directory, site.db_file)
    if not site.db_name:
        return None
    return on_server(site.platform.server, site.db_name, site.db_user)


def file_of(handle: resources.SiteDatabase) -> Path | None:
    """The file of an SQLite database handle (None for a database server's)."""
    if not isinstance(handle.driver, SQLiteDriver):  # the driver of every "sqlite" engine
        return None
    return Path(handle.driver.path_of(handle.name)).resolve()


def label(handle: resources.SiteDatabase) -> str:
    path = file_of(handle)
    return f"the SQLite database {path}" if path else f"the database {handle.name!r}"


# -- settings.php against the record ---------------------------------------------------------

def _declared_label(db: DatabaseSettings, directory: Path) -> str:
    if db.driver == "sqlite":
        try:
            return f"the SQLite database {sqlite_file(db, docroot_of(directory)).resolve()}"
        except (OSError, ValueError):
            return f"the SQLite database {db.database[:200]!r}"
    return f"the {db.driver} database {db.database[:100]!r}"


def same_server(db: DatabaseSettings, server: Server) -> bool:
    """Whether settings.php's host and port are the server's (local names count as one)."""
    host = (db.host or "").strip().lower()
    wanted = (server.db_host or "127.0.0.1").strip().lower()
    if host != wanted and not (host in _LOCAL_HOSTS and wanted in _LOCAL_HOSTS):
        return False
    default = _DEFAULT_PORTS.get(server.db_engine, 0)
    return (db.port or default) == (server.db_port or default)


def disagreement(site: Site, db: DatabaseSettings, handle: resources.SiteDatabase, directory: Path) -> Problem:
    """Why settings.php DB does not describe the recorded database HANDLE (OK when it does). The
    client reads only what the record owns: what settings.php names may be another site's."""
    ours = f"the record of {site.domain} owns {label(handle)}"
    named = Problem(f"settings.php of {site.domain} names another database, but {ours}.",
                    f"settings.php of {site.domain} names {_declared_label(db, directory)}{_owned_by(site, db)}, "
                    f"but {ours}.")
    path = file_of(handle)
    if path is not None:
        if db.driver != "sqlite":
            return named
        try:
            declared = sqlite_file(db, docroot_of(directory)).resolve()
        except (OSError, ValueError):
            declared = None
        return named if declared != path else OK
    server = site.platform.server
    if ENGINE_OF.get(db.driver) != server.db_engine or db.database != handle.name:
        return named
    if handle.user and db.username != handle.user:
        return Problem(f"settings.php of {site.domain} connects as another user, but {ours} with the user "
                       f"{handle.user!r}.",
                       f"settings.php of {site.domain} connects as {db.username[:80]!r}"
                       f"{_owned_by(site, db, user=True)}, but {ours} with the user {handle.user!r}.")
    return OK


def _owned_by(site: Site, db: DatabaseSettings, *, user: bool = False) -> str:
    """", which belongs to <domain>" when another live site's record owns what DB names."""
    if db.driver == "sqlite":
        return ""
    other = owner_of(site.platform.server, **({"user": db.username} if user else {"name": db.database}),
                     exclude=site.pk)
    return f", which belongs to {other.domain}" if other is not None else ""


def elsewhere(site: Site, db: DatabaseSettings) -> str:
    """Why the site itself may not be using its recorded database: settings.php points at
    another host or port than its server's ("" when it does not). Not a refusal: tasks act on
    the recorded server whatever settings.php says (and an administrator may have moved the
    server's port), but verify says so, since backups then cover a database the site is not using."""
    server = site.platform.server
    if server.db_engine == "sqlite" or db.driver == "sqlite" or same_server(db, server):
        return ""
    where = f"{db.host or 'localhost'}:{db.port}" if db.port else (db.host or "localhost")
    return (f"settings.php of {site.domain} points the site at the database server {where[:200]}, not at "
            f"{resources.db_server(server).label}, where its recorded database is: backups and checks "
            "cover that one. Verify with repair_settings to point the site there.")


def mismatch_error(problem: Problem) -> ProvisionError:
    return problem.error(f"{problem.text} Nothing was done. {REPAIR_HINT}")


def connection(site: Site, handle: resources.SiteDatabase, db: DatabaseSettings) -> DatabaseSettings:
    """What a check of the site's own access connects with: the recorded database, user and
    server (never a host or file that settings.php names), and settings.php's password."""
    path = file_of(handle)
    if path is not None:
        return DatabaseSettings(driver="sqlite", database=str(path))
    return handle.driver.settings_for(handle.name, handle.user, db.password)


def settings_from_record(site: Site, directory: Path, platform: Platform, *, password: str,
                         prefix: str = "") -> DatabaseSettings:
    """The $databases entry the record describes for the site in DIRECTORY on PLATFORM (the
    table prefix kept from the site's own settings: it is inside the site's own database)."""
    if site.db_file:
        return DatabaseSettings(driver="sqlite", database=str(directory / site.db_file), prefix=prefix)
    if not site.db_name:
        raise ProvisionError(f"No database is recorded for {site.domain}: there is nothing to write.")
    made = resources.db_driver(platform.server).settings_for(site.db_name, site.db_user, password)
    return dataclasses.replace(made, prefix=prefix)


# -- taking a database into a record ---------------------------------------------------------

def owner_of(server: Server, *, name: str = "", user: str = "", exclude: int | None = None) -> Site | None:
    """The live site (other than EXCLUDE) whose record owns database NAME or user USER on SERVER."""
    wanted = Q()
    if name:
        wanted |= Q(db_name=name, db_file="")
    if user:
        wanted |= Q(db_user=user)
    if not wanted:
        return None
    live = Site.objects.exclude(status=Site.DELETED).filter(platform__server=server)
    if exclude is not None:
        live = live.exclude(pk=exclude)
    return live.filter(wanted).order_by("pk").first()


@dataclasses.dataclass(frozen=True)
class Claim:
    fields: dict[str, str]  # db_name, db_user, db_file for the record; empty when refused
    problem: Problem = OK   # why the database cannot be the site's
    named: str = ""         # refused only for want of an administrator's confirmation: its name


# An administrator's confirmation: True (every database the sites name: a platform verify an
# operator started with adopt_databases) or the one name they confirmed for the site.
Confirmed = bool | str


def claim(db: DatabaseSettings, *, server: Server, directory: Path, exclude: int | None = None,
          domain: str = "", confirmed: Confirmed = False) -> Claim:
    """What the record of the site DOMAIN in DIRECTORY may say it owns, from its settings.php DB."""
    found = _claim(db, server, directory, exclude)
    name = found.fields.get("db_name", "")
    if not name:
        return found  # refused, or an SQLite file inside the site's own directory
    if confirmed is not True and confirmed != name and not _known(server, name, domain):
        what = f"the SQLite database {name}.sqlite" if server.db_engine == "sqlite" else f"the database {name!r}"
        adopt = ("An administrator adopts it for the site (Adopt database) once they know it is the site's; "
                 "until then nothing acts on it.")
        return Claim({}, Problem(f"settings.php of {domain or 'the site'} names {what}, which Harbormaster did not "
                                 f"create for this site and no record names. {adopt}",
                                 f"settings.php of {domain or 'the site'} names {what} on server {server.name}, "
                                 f"which Harbormaster did not create for this site and no record names. {adopt}"),
                     named=name)
    return found


def _known(server: Server, name: str, domain: str) -> bool:
    """Whether Harbormaster recorded database NAME on SERVER for DOMAIN before: a site whose
    record alone was deleted (an administrator's record delete) comes back with its database.
    Not when a delete task dropped that database: one of the name now is someone else's."""
    if not domain:
        return False
    dropped = Task.objects.filter(site=OuterRef("pk"), kind="delete", state__in=(Task.SUCCEEDED, Task.WARNING))
    return (Site.objects.filter(status=Site.DELETED, domain=domain, platform__server=server, db_name=name,
                                db_file="").exclude(Exists(dropped)).exists())


def _claim(db: DatabaseSettings, server: Server, directory: Path, exclude: int | None) -> Claim:
    if db.driver == "sqlite":
        return _claim_sqlite(db, server, directory, exclude)
    engine = ENGINE_OF.get(db.driver)
    if engine is None:
        return Claim({}, Problem(f"settings.php uses the database driver {db.driver[:40]!r}, which is not supported."))
    if engine != server.db_engine:
        return Claim({}, Problem(f"settings.php names a {engine} database, but server {server.name} runs "
                                 f"{server.db_engine}: it is not a database of this server."))
    if not same_server(db, server):
        return Claim({}, Problem(f"settings.php points at the database server {(db.host or 'localhost')[:200]}"
                                 f"{f':{db.port}' if db.port else ''}, not at server {server.name}'s: that "
                                 "database is not managed here."))
    driver = resources.db_driver(server)
    try:
        driver.check_database(db.database)
        driver.check_user(db.username)
        driver._refuse_system_database(db.database)
        driver._refuse_system_user(db.username)
    except ProvisionError as exc:
        return Claim({}, Problem(f"settings.php names a database the site cannot own: {exc}"))
    if control_database(server, db.database):
        return Claim({}, Problem("settings.php names a database the site cannot own.",
                                 f"settings.php names the database {db.database!r}, which is Harbormaster's own "
                                 "control database: a site never owns it."))
    other = owner_of(server, name=db.database, user=db.username, exclude=exclude)
    if other is not None:
        return Claim({}, Problem("settings.php names a database or user that belongs to another site.",
                                 f"settings.php names the database {db.database!r} (user {db.username!r}), which "
                                 f"belongs to {other.domain}."))
    return Claim({"db_name": db.database, "db_user": db.username, "db_file": ""})


def _claim_sqlite(db: DatabaseSettings, server: Server, directory: Path, exclude: int | None) -> Claim:
    try:
        real = sqlite_file(db, docroot_of(directory)).resolve()
    except (OSError, ValueError):
        return Claim({}, Problem(f"settings.php names an SQLite file that cannot be used: {db.database[:200]!r}."))
    base = directory.resolve()
    if control_database(server, path=real):
        return Claim({}, Problem("settings.php names an SQLite file the site cannot own.",
                                 f"settings.php names the SQLite file {real}, which is Harbormaster's own control "
                                 "database: a site never owns it."))
    if real.is_relative_to(base) and real != base:
        return Claim({"db_file": str(real.relative_to(base)), "db_name": "", "db_user": ""})
    if server.db_engine == "sqlite":
        folder = resources.db_server(server).sqlite_dir
        if folder is not None and real.parent == Path(folder).resolve() and real.suffix == ".sqlite" \
                and _IDENTIFIER.match(real.stem):
            other = owner_of(server, name=real.stem, exclude=exclude)
            if other is not None:
                return Claim({}, Problem("settings.php names an SQLite database that belongs to another site.",
                                         f"settings.php names the SQLite database {real}, which belongs to "
                                         f"{other.domain}."))
            return Claim({"db_name": real.stem, "db_user": "", "db_file": ""})
    rule = ("a site owns only an SQLite file inside its own directory (or one of its server's SQLite "
            "databases).")
    return Claim({}, Problem(f"settings.php names an SQLite file outside the site directory: {rule}",
                             f"settings.php names the SQLite file {real}, outside the site directory: {rule}"))


# -- one claimer at a time -------------------------------------------------------------------

def reserve(ctx: Context, server: Server, name: str) -> Problem:
    """Hold the lock `db:<server id>:<name>` for CTX's task until it ends, so that no other task
    records database NAME meanwhile. Returns OK when held, or why not (another task holds it)."""
    key = f"db:{server.pk}:{name}"[:100]
    try:
        with ctx.recording():
            held = Lock.objects.filter(key=key).select_related("task").first()
            if held is not None and held.task_id != ctx.task.pk and held.task.is_final:
                held.delete()  # a final task holds nothing (its locks go when it ends)
                held = None
            if held is None:
                Lock.objects.create(key=key, task_id=ctx.task.pk)
            elif held.task_id != ctx.task.pk:
                return _busy(name, held.task_id)
    except IntegrityError:  # another task inserted it after our read
        return _busy(name, Lock.objects.filter(key=key).values_list("task_id", flat=True).first())
    return OK


def _busy(name: str, task_id: int | None) -> Problem:
    return Problem("Another task is recording the database settings.php names at this moment: it is not taken "
                   "for this site.",
                   f"Task #{task_id or '?'} is recording the database {name!r} for another site at this moment: "
                   "it is not taken for this one.")


def take(ctx: Context, db: DatabaseSettings, *, server: Server, directory: Path, exclude: int | None = None,
         domain: str = "", confirmed: Confirmed = False) -> Claim:
    """claim(), with the database's lock held (until the task ends) before the answer is final:
    the check that no other site owns it and the task's record of it cannot be split by another
    task recording it too."""
    found = claim(db, server=server, directory=directory, exclude=exclude, domain=domain, confirmed=confirmed)
    name = found.fields.get("db_name", "")
    if not name:
        return found
    busy = reserve(ctx, server, name)
    if busy:
        return Claim({}, busy)
    # Checked again under the lock: a task that recorded it before we took the lock has ended.
    return claim(db, server=server, directory=directory, exclude=exclude, domain=domain, confirmed=confirmed)


def confirmation(task: Task, key: str) -> Confirmed:
    """The administrator's confirmation TASK carries in its argument KEY (False: none). Only an
    administrator or an operator (the command line; no user) counts: the panel's and the API's
    forms have no such field, and a retry by someone else must not carry the confirmation."""
    from hosting.access import is_admin

    args = task.args if isinstance(task.args, dict) else {}
    value = args.get(key)
    if not isinstance(value, (bool, str)) or not value:
        return False
    if task.created_by_id is not None and not is_admin(task.created_by):
        return False
    return value
