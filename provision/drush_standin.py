"""A small program standing in for drush on test and demo platforms (DESIGN §5: Drupal cannot be
downloaded in the test environment). It takes drush's real argument shapes and does the parts
of each command that Harbormaster observes: tables in a real database, a settings.php, files,
a login link, exit codes and messages. demo.make_platform() installs it as vendor/bin/drush.

Fault injection, so tests can exercise failures and timeouts through the real path:
`<platform>/.standin/fail-<command>` makes <command> print the file to stderr and exit 1;
`<platform>/.standin/sleep-<command>` makes it sleep that many seconds first;
`fail-<command>@<domain>` and `sleep-<command>@<domain>` do the same for one site only.
(<command> is the canonical name: status, site:install, user:login, updatedb, cache:rebuild,
core:cron.)"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from provision.errors import ProvisionError
from provision.platform import drupal_version, find_docroot
from provision.settings_php import DatabaseSettings, read_database_settings, render_settings_php
from provision.standin_db import Database, install_schema

DRUSH_VERSION = "12.5.2.0"
ALIASES = {
    "st": "status", "core-status": "status", "core:status": "status", "status": "status",
    "si": "site:install", "site-install": "site:install", "site:install": "site:install",
    "uli": "user:login", "user-login": "user:login", "user:login": "user:login",
    "updb": "updatedb", "updatedb": "updatedb",
    "cr": "cache:rebuild", "cache-rebuild": "cache:rebuild", "rebuild": "cache:rebuild",
    "cache:rebuild": "cache:rebuild", "version": "version",
    "cron": "core:cron", "core-cron": "core:cron", "core:cron": "core:cron",
    "ws": "watchdog:show", "wd-show": "watchdog:show", "watchdog-show": "watchdog:show",
    "watchdog:show": "watchdog:show",
    "pm:list": "pm:list", "pml": "pm:list", "pm-list": "pm:list",
}
# Options that take a value, so `--uri example.com` works as well as `--uri=example.com`.
VALUE_OPTIONS = {"root", "uri", "db-url", "site-name", "site-mail", "account-name", "account-pass",
                 "account-mail", "sites-subdir", "format", "field", "name", "uid", "locale", "count",
                 "db-prefix", "db-su", "db-su-pw", "status", "type"}
SHORT_OPTIONS = {"-l": "uri", "-r": "root"}
STATUS_LABELS = {
    "drupal-version": "Drupal version", "uri": "Site URI", "db-driver": "DB driver",
    "db-hostname": "DB hostname", "db-port": "DB port", "db-username": "DB username",
    "db-name": "DB name", "db-status": "Database", "bootstrap": "Drupal bootstrap",
    "root": "Drupal root", "site": "Site path", "files": "Files, Public",
    "drush-script": "Drush script", "drush-version": "Drush version",
}
_PENDING = re.compile(r"^(\w+?)_update_(\d+)$")


class Failure(Exception):
    """Print the message as drush would, and exit 1."""


@dataclass
class Call:
    command: str | None = None
    args: list[str] = field(default_factory=list)
    options: dict[str, str | bool] = field(default_factory=dict)

    def opt(self, name: str, default: str = "") -> str:
        value = self.options.get(name, default)
        return value if isinstance(value, str) else default


def parse(argv: list[str]) -> Call:
    """drush [global options] <command> [arguments] [options]: options may come anywhere."""
    call = Call()
    items = iter(argv)
    for item in items:
        if item == "--":
            call.args.extend(items)
            break
        if item in SHORT_OPTIONS:
            call.options[SHORT_OPTIONS[item]] = next(items, "")
        elif item in ("-y", "--yes", "--no-interaction", "-n"):
            call.options["yes"] = True
        elif item in ("-v", "-vv", "-vvv", "--verbose", "-q", "--quiet", "--debug"):
            continue
        elif item.startswith("--"):
            name, sep, value = item[2:].partition("=")
            if not sep and name in VALUE_OPTIONS:
                value = next(items, "")
            call.options[name] = value if (sep or name in VALUE_OPTIONS) else True
        elif call.command is None:
            call.command = item
        else:
            call.args.append(item)
    return call


@dataclass
class Context:
    project: Path  # the directory holding vendor/bin/drush
    docroot: Path
    call: Call

    @property
    def major(self) -> int:
        version = drupal_version(self.docroot) or "10"
        return int(version.split(".")[0])

    def site_dir(self, *, install: bool = False) -> Path:
        """sites/<dir> for --uri, the way Drupal maps a host name to a directory."""
        sites = self.docroot / "sites"
        subdir = self.call.opt("sites-subdir")
        host = _host(self.call.opt("uri"))
        if install:
            name = subdir or host or "default"
            if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name in (".", ".."):
                raise Failure(f"Invalid sites subdirectory {name!r}.")
            return sites / name
        if host:
            labels = host.split(".")
            for i in range(len(labels)):
                candidate = sites / ".".join(labels[i:])
                if (candidate / "settings.php").is_file():
                    return candidate
        return sites / "default"

    def fault_file(self, kind: str, command: str) -> Path | None:
        host = _host(self.call.opt("uri"))
        names = ([f"{kind}-{command}@{host}"] if host else []) + [f"{kind}-{command}"]
        for name in names:
            for base in (self.project, self.docroot):
                path = base / ".standin" / name
                if path.is_file():
                    return path
        return None

    def database(self, site: Path) -> Database | None:
        settings = site / "settings.php"
        db = read_database_settings(settings) if settings.is_file() else None
        return Database(db, self.docroot) if db else None


def _host(uri: str) -> str:
    if not uri or uri == "default":
        return ""
    parts = urllib.parse.urlsplit(uri if "://" in uri else f"http://{uri}")
    return (parts.hostname or "").rstrip(".")


def _say(level: str, message: str) -> None:
    # drush writes its log messages to stderr and its data (json, links) to stdout.
    print(f" [{level}] {message}", file=sys.stderr, flush=True)


def _installed(db: Database | None) -> bool:
    return db is not None and db.scalar(f"SELECT COUNT(*) FROM {db.prefix}users WHERE uid = 1") == "1"


def cmd_status(ctx: Context) -> int:
    site = ctx.site_dir()
    db = ctx.database(site)
    rel = site.relative_to(ctx.docroot).as_posix()
    uri = ctx.call.opt("uri") or "default"
    values: dict[str, str] = {
        "drupal-version": drupal_version(ctx.docroot) or "",
        "uri": uri if "://" in uri else f"http://{uri}",
    }
    if db is not None:
        values.update({"db-driver": db.settings.driver, "db-hostname": db.settings.host,
                       "db-port": str(db.settings.port or ""), "db-username": db.settings.username,
                       "db-name": db.settings.database})
        if db.ping():
            values["db-status"] = "Connected"
            if _installed(db):
                values["bootstrap"] = "Successful"
    values.update({"root": str(ctx.docroot), "site": rel, "files": f"{rel}/files",
                   "drush-script": str(ctx.project / "vendor" / "bin" / "drush"),
                   "drush-version": DRUSH_VERSION})
    wanted = ctx.call.opt("field")
    if wanted:
        print(values.get(wanted, ""))
    elif ctx.call.opt("format") == "json":
        print(json.dumps(values, indent=2))
    else:
        for key, value in values.items():
            if value:  # drush leaves empty rows out of the table
                print(f" {STATUS_LABELS.get(key, key):<16} : {value}")
    return 0


def cmd_site_install(ctx: Context) -> int:
    import secrets  # here, not at start-up: a status, run for every site's verify, needs none

    profile = ctx.call.args[0] if ctx.call.args else "standard"
    profile_dirs = [ctx.docroot / "core" / "profiles" / profile, ctx.docroot / "profiles" / profile]
    if not any(d.is_dir() for d in profile_dirs):
        raise Failure(f"The profile {profile} does not exist.")
    site = ctx.site_dir(install=True)
    settings = site / "settings.php"
    existing = read_database_settings(settings) if settings.is_file() else None
    url = ctx.call.opt("db-url")
    try:
        db = DatabaseSettings.from_url(url) if url else existing
    except ProvisionError as exc:
        raise Failure(str(exc)) from None
    if db is None:
        raise Failure("Could not determine database connection parameters. Pass --db-url option.")
    if db.driver == "sqlite" and not os.path.isabs(db.database):
        db = dataclasses.replace(db, database=str(ctx.docroot / db.database))
    if ctx.call.opt("db-prefix"):
        db = dataclasses.replace(db, prefix=ctx.call.opt("db-prefix"))
    _say("notice", "Starting Drupal installation. This takes a while.")
    site.mkdir(parents=True, exist_ok=True)
    if existing is None:
        _write_settings(ctx, site, settings, db)
    name = ctx.call.opt("site-name") or "Drush Site-Install"
    account = ctx.call.opt("account-name") or "admin"
    password = ctx.call.opt("account-pass")
    generated = not password
    password = password or secrets.token_urlsafe(9)
    install_schema(Database(db, ctx.docroot), site_name=name, account_name=account,
                   account_pass=password, account_mail=ctx.call.opt("account-mail") or "admin@example.com",
                   profile=profile, drupal=ctx.major,
                   existing_config=bool(ctx.call.options.get("existing-config")))
    files = site / "files"
    files.mkdir(exist_ok=True)
    (files / ".stand-in-installed").write_text(name + "\n", encoding="utf-8")
    if generated:  # what drush does when it chose the password itself
        _say("success", f"Installation complete.  User name: {account}  User password: {password}")
    else:
        _say("success", "Installation complete.")
    return 0


def _write_settings(ctx: Context, site: Path, settings: Path, db: DatabaseSettings) -> None:
    import secrets

    """Like drush: settings.php from the platform's template, with the database appended."""
    rel = site.relative_to(ctx.docroot).as_posix()
    rendered = render_settings_php(db, drupal=ctx.major, hash_salt=secrets.token_urlsafe(48),
                                   file_public_path=f"{rel}/files")
    template = ctx.docroot / "sites" / "default" / "default.settings.php"
    head = template.read_text(encoding="utf-8") if template.is_file() else "<?php\n"
    body = rendered.split("\n", 1)[1]  # without its own "<?php"
    settings.write_text(head.rstrip("\n") + "\n\n" + body, encoding="utf-8")
    settings.chmod(0o444)


def cmd_user_login(ctx: Context) -> int:
    import secrets

    site = ctx.site_dir()
    if not _installed(ctx.database(site)):
        raise Failure(f"Drupal is not installed at {site.relative_to(ctx.docroot)}: user:login "
                      "needs a fully bootstrapped site.")
    uri = ctx.call.opt("uri") or "default"
    base = (uri if "://" in uri else f"http://{uri}").rstrip("/")
    uid = ctx.call.opt("uid") or "1"
    print(f"{base}/user/reset/{uid}/{int(time.time())}/{secrets.token_urlsafe(32)}/login")
    return 0


def cmd_updatedb(ctx: Context) -> int:
    site = ctx.site_dir()
    db = ctx.database(site)
    if not _installed(db):
        raise Failure(f"Drupal is not installed at {site.relative_to(ctx.docroot)}.")
    assert db is not None
    pending_file = next((b / ".standin" / "pending-updates" for b in (ctx.project, ctx.docroot)
                         if (b / ".standin" / "pending-updates").is_file()), None)
    pending = [] if pending_file is None else \
        [line.strip() for line in pending_file.read_text().splitlines() if line.strip()]
    if not pending:
        _say("success", "No pending updates.")
        return 0
    if any(not _PENDING.match(update) for update in pending):
        raise Failure(f"Invalid update name in {pending_file}.")
    _pending_table(pending)
    if not ctx.call.options.get("yes"):
        raise Failure("Cancelled: updatedb asks for confirmation (pass --yes).")
    print("\n // Do you wish to run the specified pending updates?: yes.\n", flush=True)
    for update in pending:
        m = _PENDING.match(update)
        assert m is not None
        _say("notice", f"Update started: {update}")
        module, number = m.groups()
        db.execute([f"DELETE FROM {db.prefix}key_value WHERE collection = 'system.schema' "
                    f"AND name = {db.literal(module)}",
                    f"INSERT INTO {db.prefix}key_value (collection, name, value) VALUES "
                    f"('system.schema', {db.literal(module)}, {db.literal(number)})"])
        _say("notice", f"Update completed: {update}")
    assert pending_file is not None
    pending_file.write_text("")
    _say("success", "Finished performing updates.")
    return 0


def _pending_table(pending: list[str]) -> None:
    """The table drush prints before it runs the updates."""
    rule = " -------- ----------- --------------- -----------------------"
    print(rule + "\n  Module   Update ID   Type            Description\n" + rule)
    for update in pending:
        m = _PENDING.match(update)
        assert m is not None
        print(f"  {m.group(1):<8} {m.group(2):<11} hook_update_n   {m.group(2)} - Update {update}.")
    print(rule, flush=True)


def cmd_cache_rebuild(ctx: Context) -> int:
    db = ctx.database(ctx.site_dir())
    if _installed(db):
        assert db is not None
        db.execute([f"DELETE FROM {db.prefix}cache_bootstrap"])
    _say("success", "Cache rebuild complete.")
    return 0


def cmd_core_cron(ctx: Context) -> int:
    """Like Drupal's cron: it needs a bootstrapped site and records system.cron_last in state."""
    site = ctx.site_dir()
    db = ctx.database(site)
    if not _installed(db):
        raise Failure(f"Drupal is not installed at {site.relative_to(ctx.docroot)}: core:cron needs a "
                      "fully bootstrapped site.")
    assert db is not None
    db.execute([f"DELETE FROM {db.prefix}key_value WHERE collection = 'state' AND name = 'system.cron_last'",
                f"INSERT INTO {db.prefix}key_value (collection, name, value) VALUES "
                f"('state', 'system.cron_last', {db.literal(str(int(time.time())))})"])
    _say("notice", "Cron run completed.")
    return 0


def cmd_watchdog_show(ctx: Context) -> int:
    """The stand-in keeps no watchdog table: it answers as drush does for an empty log, after the
    checks a real run makes (a bootstrapped site, a numeric --count)."""
    site = ctx.site_dir()
    if not _installed(ctx.database(site)):
        raise Failure(f"Drupal is not installed at {site.relative_to(ctx.docroot)}.")
    count = ctx.call.opt("count", "10")
    if not count.isdigit():
        raise Failure(f"--count must be a number, not {count!r}.")
    _say("notice", "No log messages available.")
    return 0


def _extensions(docroot: Path, core: str) -> dict[str, dict[str, str]]:
    """Drupal's extension discovery, as far as pm:list shows it: every *.info.yml under the
    docroot's extension places, its type and version lines (the stand-in runs without site
    packages: no YAML library; Drupal would parse the file)."""
    found: dict[str, dict[str, str]] = {}
    for place in ("core", "modules", "themes", "profiles"):
        for path in sorted((docroot / place).rglob("*.info.yml")) if (docroot / place).is_dir() else []:
            if "tests" in path.parts or path.stat().st_size > 65536:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            kind = re.search(r"^type:\s*['\"]?(\w+)", text, re.MULTILINE)
            version = re.search(r"^version:\s*['\"]?([^'\"\n]*)", text, re.MULTILINE)
            value = version.group(1).strip() if version else ""
            found.setdefault(path.name[: -len(".info.yml")], {
                "type": kind.group(1) if kind else "module", "version": core if value == "VERSION" else value})
    return found


def cmd_pm_list(ctx: Context) -> int:
    """drush pm:list: the extensions of the platform, each with its status on this site. A module
    is enabled when the site's database holds its schema version (key_value system.schema, as
    Drupal records it); its version and path come from its info.yml, like drush's."""
    site = ctx.site_dir()
    db = ctx.database(site)
    if not _installed(db):
        raise Failure(f"Drupal is not installed at {site.relative_to(ctx.docroot)}.")
    assert db is not None
    enabled = set(db.column(f"SELECT name FROM {db.prefix}key_value WHERE collection = 'system.schema'"))
    core = drupal_version(ctx.docroot) or ""
    found = _extensions(ctx.docroot, core)
    found.setdefault("system", {"type": "module", "version": core})
    wanted_status = ctx.call.opt("status").lower()
    wanted_type = ctx.call.opt("type").lower()
    rows: dict[str, dict[str, object]] = {}
    for name, info in sorted(found.items()):
        status = "Enabled" if name in enabled else "Disabled"
        if wanted_status and status.lower() != wanted_status:
            continue
        if wanted_type and info["type"] != wanted_type:
            continue
        rows[name] = {"package": "Core" if name == "system" else "Other", "project": None,
                      "display_name": f"{name.replace('_', ' ').title()} ({name})", "name": name,
                      "type": info["type"], "path": "", "status": status, "version": info["version"] or None}
    if ctx.call.opt("format") == "json":
        print(json.dumps(rows, indent=4))
    else:
        for row in rows.values():
            print(f"  {row['package']:<8} {row['display_name']:<40} {row['status']:<9} {row['version'] or ''}")
    return 0


COMMANDS = {"pm:list": cmd_pm_list, "status": cmd_status, "site:install": cmd_site_install,
            "user:login": cmd_user_login, "updatedb": cmd_updatedb, "cache:rebuild": cmd_cache_rebuild,
            "core:cron": cmd_core_cron, "watchdog:show": cmd_watchdog_show}


def main(argv: list[str], *, script: str) -> int:
    call = parse(argv)
    if call.options.get("version") or call.command == "version":
        print(f"Drush Commandline Tool {DRUSH_VERSION}")
        return 0
    if call.command is None:
        print(f"Drush Commandline Tool {DRUSH_VERSION} (Harbormaster stand-in)\n\nAvailable commands:\n  "
              + "\n  ".join(sorted(set(ALIASES.values()))))
        return 0
    command = ALIASES.get(call.command)
    if command is None:
        print(f"\n  Command \"{call.command}\" is not defined.  \n", file=sys.stderr)
        return 1
    project = Path(script).resolve().parents[2]  # <project>/vendor/bin/drush
    root = Path(call.opt("root")).resolve() if call.opt("root") else project
    ctx = Context(project=project, docroot=find_docroot(root), call=call)
    if drupal_version(ctx.docroot) is None:
        _say("error", f"{ctx.docroot} is not a Drupal root.")
        return 1
    sleep = ctx.fault_file("sleep", command)
    if sleep is not None:
        time.sleep(float(sleep.read_text().strip() or "0"))
    fail = ctx.fault_file("fail", command)
    if fail is not None:
        sys.stderr.write(fail.read_text())
        sys.stderr.flush()
        return 1
    try:
        return COMMANDS[command](ctx)
    except (Failure, ProvisionError) as exc:
        _say("error", str(exc))
        return 1

