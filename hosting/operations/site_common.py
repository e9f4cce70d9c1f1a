"""Pieces the site task types share: the site record of a task, its settings and database as
settings.php describes them (passwords registered as secrets before anything can log them),
vhosts, backups with their Backup rows, and database creation and removal with undo state."""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.utils import timezone

from hosting.engine.steps import Context
from hosting.models import Backup, Platform, Site
from hosting.operations import resources
from hosting.operations.backups import files_link_roots, report
from hosting.operations.common import flag
from provision import sitefiles
from provision.backup import create_incremental
from provision.errors import ProvisionError
from provision.db import DatabaseDriver
from provision.settings_php import DatabaseSettings
from provision.sitedb import SQLiteFileDriver


def site_of(ctx: Context) -> Site:
    return Site.objects.select_related("platform__server", "client").get(pk=ctx.task.site_id)


def platform_by_id(platform_id: int) -> Platform:
    return Platform.objects.select_related("server").get(pk=platform_id)


def settings_in(ctx: Context, directory: Path) -> DatabaseSettings:
    """The site's database settings from DIRECTORY/settings.php, its password made a secret of
    this task's log before anything can print it."""
    db = resources.read_settings(directory)
    ctx.runner.add_secret(db.password)
    return db


def database_of(ctx: Context, site: Site, directory: Path, platform: Platform | None = None) -> resources.SiteDatabase:
    platform = platform or site.platform
    db = settings_in(ctx, directory)
    return resources.site_database(platform.server, db, docroot_path=resources.docroot(platform),
                                   directory=directory)


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

def create_database(ctx: Context, key: str, platform: Platform, directory: Path) -> None:
    """Create the database and user that DIRECTORY/settings.php names, with the password it
    holds. ctx.state[KEY] records what was created, for drop_created()."""
    db = settings_in(ctx, directory)
    handle = resources.site_database(platform.server, db, docroot_path=resources.docroot(platform),
                                     directory=directory)
    driver = handle.driver
    if driver.database_exists(handle.name):
        raise ProvisionError(f"The database {handle.name} already exists on {driver.server.label}; "
                             "it belongs to something else and is left alone.")
    made: dict[str, Any] = {"platform": platform.pk, "name": handle.name, "user": handle.user,
                            "db": False, "user_made": False,
                            "sqlite": str(driver.file) if isinstance(driver, SQLiteFileDriver) else ""}
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

def write_vhost(ctx: Context, domain: str, aliases: list[str], platform: Platform) -> None:
    web = resources.web_server(platform.server, ctx.runner)
    path = web.write_vhost(resources.vhost_spec(domain, aliases, platform))
    ctx.info(f"Vhost {path} written.")


def remove_vhost(ctx: Context, domain: str, platform: Platform) -> None:
    resources.web_server(platform.server, ctx.runner).remove_vhost(domain)
    ctx.info(f"Vhost of {domain} removed.")


# -- backups -------------------------------------------------------------------------------

def make_backup(ctx: Context, site: Site, kind: str, *, files: bool = True) -> Backup:
    """Back up the site (directory and database; only the database unless FILES) and record
    the Backup row. Incremental: files unchanged since the last backup are not read again."""
    platform = site.platform
    directory = resources.site_dir(site)
    handle = database_of(ctx, site, directory)
    dest = resources.backup_dir(site.domain)
    clean_partials(ctx, dest)
    result = create_incremental(
        domain=site.domain, site_dir=directory, dest_dir=dest, runner=ctx.runner,
        db_driver=handle.driver, db_name=handle.name,
        follow_files_symlink=site.files_symlink == Site.FILES_FOLLOW, files_link_roots=files_link_roots(site.domain),
        platform_name=platform.name, platform_path=platform.path, drupal_version=platform.drupal_version,
        include_files=files,
    )
    report(ctx, site.domain, result)
    return record_backup(ctx, site, kind, result.path, result.size, result.sha256, result.manifest)


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
    backup = Backup.objects.create(
        site=site, domain=site.domain, client=site.client, path=str(path), size=size, sha256=sha256,
        kind=kind, manifest=manifest_summary(manifest), task_id=ctx.task.pk, verified_at=None)
    ctx.info(f"Backup #{backup.pk} ({kind}): {path.name}, {size} bytes.")
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


def mark_verified(site: Site, **fields: Any) -> None:
    Site.objects.filter(pk=site.pk).update(verified_at=timezone.now(), **fields)
