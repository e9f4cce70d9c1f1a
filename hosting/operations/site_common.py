"""Pieces the site task types share: the site record of a task, its settings.php (read as
untrusted input, its password registered as a secret before anything can log it) and the
database its record owns (hosting.operations.ownership), vhosts, backups with their Backup rows,
and database creation and removal with undo state."""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.utils import timezone

from hosting.engine.steps import Context
from hosting.models import Backup, Platform, Site
from hosting.operations import ownership, resources
from hosting.operations.backups import files_link_roots, report
from hosting.operations.common import flag, target_rows
from provision import sitefiles
from provision.backup import BackupResult, create_incremental
from provision.db import DatabaseDriver
from provision.errors import ProvisionError
from provision.settings_php import DatabaseSettings
from provision.sitedb import SQLiteFileDriver


def site_of(ctx: Context) -> Site:
    return target_rows(Site, ctx.task.site_id).select_related("platform__server", "client").get()


def platform_by_id(platform_id: int) -> Platform:
    return Platform.objects.select_related("server").get(pk=platform_id)


def refuse_attention(site: Site, kind: str) -> None:
    """Stop a task other than verify or delete on a site that needs attention (queued before)."""
    reason = site.attention_refusal(kind)
    if reason:
        raise ProvisionError(reason)


def needs_attention(ctx: Context, site: Site, reason: ownership.Problem | ProvisionError, **fields: Any) -> None:
    """Record why SITE needs a human: what its client may read, the administrators' detail, and
    FIELDS besides (such as the database its settings.php names)."""
    if isinstance(reason, ownership.Problem):
        text, detail = reason.text, reason.detail
    else:
        text, detail = str(reason), reason.detail
    with ctx.recording():
        Site.objects.filter(pk=site.pk).update(attention=text[:2000], attention_detail=detail[:4000], **fields)
    site.attention, site.attention_detail = text[:2000], detail[:4000]
    for name, value in fields.items():
        setattr(site, name, value)


def settings_in(ctx: Context, directory: Path) -> DatabaseSettings:
    """The site's database settings from DIRECTORY/settings.php, its password made a secret of
    this task's log before anything can print it."""
    db = resources.read_settings(directory)
    ctx.runner.add_secret(db.password)
    return db


def database_of(ctx: Context, site: Site, directory: Path) -> resources.SiteDatabase:
    """The database SITE's record owns (its directory at DIRECTORY). Refuses, naming both, when
    settings.php names another one, and marks the site as needing attention."""
    db = settings_in(ctx, directory)
    handle = ownership.recorded(site, directory)
    if handle is None:
        raise ProvisionError(f"No database is recorded for {site.domain}: verify the site to record the one "
                             "its settings.php names.")
    problem = ownership.disagreement(site, db, handle, directory)
    if problem:
        needs_attention(ctx, site, problem)
        raise ownership.mismatch_error(problem)
    return handle


def new_password() -> str:
    # URL-safe: it travels in drush's --db-url, and settings.php quotes it anyway.
    return secrets.token_urlsafe(24)


def write_site_settings(ctx: Context, directory: Path, *, domain: str, aliases: list[str],
                        db: DatabaseSettings, platform: Platform, hash_salt: str | None = None) -> None:
    ctx.runner.add_secret(db.password)
    sitefiles.write_settings(directory, aliases=aliases, domain=domain, db=db,
                             drupal=resources.drupal_major(platform),
                             hash_salt=hash_salt or secrets.token_urlsafe(48))


# -- databases -----------------------------------------------------------------------------

def create_database(ctx: Context, key: str, platform: Platform, directory: Path, name: str, user: str) -> None:
    """Create database NAME and user USER, with the password DIRECTORY/settings.php holds (this
    task wrote it, naming them). ctx.state[KEY] records what was created, for drop_created()."""
    db = settings_in(ctx, directory)
    handle = ownership.on_server(platform.server, name, user)
    driver = handle.driver
    if driver.server.engine == "sqlite":
        wanted = str(ownership.file_of(handle))
        named = db.driver == "sqlite" and str(Path(db.database).resolve()) == wanted
    else:
        named = (db.database, db.username) == (name, user)
    if not named:
        raise ProvisionError(f"settings.php in {directory} does not name the new database {name}; nothing was created.")
    if driver.database_exists(handle.name):
        raise ProvisionError(f"The database {handle.name} already exists on {driver.server.label}; "
                             "it belongs to something else and is left alone.")
    made: dict[str, Any] = {"platform": platform.pk, "name": handle.name, "user": handle.user,
                            "db": False, "user_made": False, "sqlite": ""}
    driver.create_database(handle.name)
    made["db"] = True
    flag(ctx, key, made)
    if handle.user and driver.server.engine != "sqlite":
        driver.create_user(handle.user, db.password)
        made["user_made"] = True
        flag(ctx, key, made)
        driver.grant(handle.name, handle.user)
    ctx.info(f"Database {handle.name} created on {driver.server.label}.")


def drop_created(ctx: Context, key: str) -> None:
    """Undo of create_database: drop what ctx.state[KEY] says was created, nothing else."""
    made = ctx.state.get(key)
    if not made:
        return
    platform = platform_by_id(made["platform"])
    driver = _driver_for_record(made, platform)
    if made.get("db"):
        driver.drop_database(made["name"])
        ctx.info(f"Database {made['name']} dropped.")
    if made.get("user_made") and made.get("user"):
        driver.drop_user(made["user"])
    ctx.state.pop(key, None)
    ctx.save_state()


def _driver_for_record(made: dict[str, Any], platform: Platform) -> DatabaseDriver:
    if made.get("sqlite"):
        return SQLiteFileDriver(Path(made["sqlite"]))
    return resources.db_driver(platform.server)


def copy_database(ctx: Context, source: resources.SiteDatabase, target: resources.SiteDatabase,
                  workdir: Path) -> None:
    """Stream SOURCE's dump through a private temporary file into TARGET."""
    import os
    import tempfile

    workdir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".copy-", suffix=".sql", dir=workdir)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            source.driver.dump(source.name, out, ctx.runner)
        with open(path, "rb") as src:
            target.driver.load(target.name, src, ctx.runner, owner=target.user or None)
    finally:
        path.unlink(missing_ok=True)


# -- vhosts --------------------------------------------------------------------------------

def write_vhost(ctx: Context, domain: str, aliases: list[str], platform: Platform, *, site: Site | None = None) -> None:
    """The vhost of DOMAIN with ALIASES on PLATFORM; SITE (its record) adds its redirects."""
    web = resources.web_server(platform.server, ctx.runner)
    spec = (resources.site_vhost_spec(site, platform) if site is not None
            else resources.vhost_spec(domain, aliases, platform))
    path = web.write_vhost(spec)
    ctx.info(f"Vhost {path} written.")


def remove_vhost(ctx: Context, domain: str, platform: Platform) -> None:
    resources.web_server(platform.server, ctx.runner).remove_vhost(domain)
    ctx.info(f"Vhost of {domain} removed.")


# -- backups -------------------------------------------------------------------------------

def make_backup(ctx: Context, site: Site, kind: str, *, files: bool = True) -> Backup:
    """Back up the site (directory and database; only the database unless FILES) and record
    the Backup row."""
    # A site with no recorded database (imported needing attention) is deleted with a backup of
    # its files only: the database settings.php names is not known to be its own.
    result = archive_site(ctx, site, files=files, database=bool(site.db_name or site.db_file))
    return record_backup(ctx, site, kind, result.path, result.size, result.sha256, result.manifest)


def archive_site(ctx: Context, site: Site, *, files: bool = True, database: bool = True) -> BackupResult:
    """Write a backup archive of the site (its directory unless not FILES, its recorded database
    when DATABASE; database_of refuses one settings.php disagrees with) and measure what the site
    uses. Incremental: files unchanged since the last backup are not read again."""
    platform = site.platform
    directory = resources.site_dir(site)
    handle = database_of(ctx, site, directory) if database else None
    dest = resources.backup_dir(site.domain)
    clean_partials(ctx, dest)
    result = create_incremental(
        domain=site.domain, site_dir=directory, dest_dir=dest, runner=ctx.runner,
        db_driver=handle.driver if handle else None, db_name=handle.name if handle else None,
        follow_files_symlink=site.files_symlink == Site.FILES_FOLLOW, files_link_roots=files_link_roots(site.domain),
        platform_name=platform.name, platform_path=platform.path, drupal_version=platform.drupal_version,
        include_files=files,
    )
    report(ctx, site.domain, result)
    measure(ctx, site, handle)
    return result


def clean_partials(ctx: Context, dest: Path) -> None:
    """Remove what a backup of this site left when its worker was killed: hidden `.partial`
    files. Safe: every task that writes here holds the site's lock, so none is being written."""
    if not dest.is_dir():
        return
    for leftover in dest.glob(".*.partial"):
        leftover.unlink(missing_ok=True)
        ctx.info(f"Removed {leftover.name}, left by an interrupted backup.")


def record_backup(ctx: Context, site: Site, kind: str, path: Path, size: int, sha256: str,
                  manifest: dict[str, Any]) -> Backup:
    with ctx.recording():
        backup = Backup.objects.create(
            site=site, domain=site.domain, client=site.client, path=str(path), size=size, sha256=sha256,
            kind=kind, manifest=manifest_summary(manifest), task_id=ctx.task.pk, verified_at=None)
    ctx.info(f"Backup #{backup.pk} ({kind}): {path.name}, {size} bytes.")
    from hosting.offsite import after_backup

    after_backup(site)  # copied off-site once recorded (hosting.offsite)
    return backup


def manifest_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as the Backup row keeps it: everything but the member list, which can hold
    a hundred thousand entries and stays in the archive (`backups verify` reads it there)."""
    members = manifest.get("members")
    summary = {k: v for k, v in manifest.items() if k != "members"}
    summary["members"] = len(members) if isinstance(members, list) else int(members or 0)
    return summary


def backup_path(backup: Backup) -> Path:
    return resources.roots().inside(backup.path)


def mark_verified(ctx: Context, site: Site, **fields: Any) -> None:
    with ctx.recording():
        Site.objects.filter(pk=site.pk).update(verified_at=timezone.now(), **fields)


# -- disk figures --------------------------------------------------------------------------

def measure(ctx: Context, site: Site, handle: resources.SiteDatabase | None) -> dict[str, int]:
    """Record what SITE really uses besides its files: its database (HANDLE, the recorded one)
    and everything the backup store holds for its domain. A figure that cannot be read keeps
    its last value, with a warning: a quota must not fail a task."""
    fields: dict[str, int] = {}
    size = database_bytes(ctx, handle) if handle is not None else None
    if size is not None:
        fields["disk_db_bytes"] = size
    fields["disk_backup_bytes"] = backup_store_bytes(site.domain)
    with ctx.recording():
        Site.objects.filter(pk=site.pk).update(**fields)
    return fields


def database_bytes(ctx: Context, handle: resources.SiteDatabase) -> int | None:
    """The size of the database HANDLE, or None (with a warning) when it cannot be read."""
    try:
        return handle.driver.database_size(handle.name)
    except (ProvisionError, OSError) as exc:
        ctx.warning(f"The size of the database could not be read: {exc}")
        return None


def backup_store_bytes(domain: str) -> int:
    """Bytes under the domain's backup directory: archives, packs, loose objects, indexes."""
    path = resources.backup_dir(domain)
    return sitefiles.disk_usage(path) if path.is_dir() else 0
