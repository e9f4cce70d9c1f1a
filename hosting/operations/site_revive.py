"""site.restore-deleted: a deleted site back on its platform from one of its backups (the
pre-delete backup, made by site.delete for this). The deleted record is the target: it still
names the platform, the client and the database the site owned.

check (the site is deleted, its domain not taken by a live site, its platform there, the
backup the site's and inside the backup store, sites/<domain> free) -> files (the archive's
directory written to sites/<domain>; undo: removed) -> database (the user created again with
the password the restored settings.php holds, the database loaded from the archive's dump; undo:
dropped) -> vhost (written; undo: removed) -> record (status enabled; the domain's uniqueness
among live sites is the last guard; undo: deleted again). Args: {"backup": <Backup id>}."""
from __future__ import annotations

from pathlib import Path

from django.db import IntegrityError
from django.utils import timezone

from hosting.engine.steps import Context, Plan
from hosting.models import Backup, Platform, Site, Task
from hosting.operations import ownership, resources
from hosting.operations.backups import files_link_roots
from hosting.operations.common import flag, step
from hosting.operations.site_common import settings_in, site_of, write_vhost
from provision import sitefiles
from provision.backup import restore_backup
from provision.errors import ProvisionError
from provision.sitedb import reload_from_archive


def taken_by(site: Site) -> Site | None:
    """The live site that holds SITE's domain now, if any."""
    return Site.objects.exclude(status=Site.DELETED).exclude(pk=site.pk).filter(domain=site.domain).first()


def refusal(site: Site) -> str:
    """Why the deleted SITE cannot come back now ("" when it can)."""
    if site.status != Site.DELETED:
        return "The site is not deleted."
    other = taken_by(site)
    if other is not None:
        return f"{site.domain} is taken by a live site (#{other.pk}) meanwhile; it cannot be restored under its name."
    if site.platform.status == Platform.DELETED:
        return f"The site's platform {site.platform.name} is deleted; the site cannot be re-created there."
    return ""


def check(ctx: Context) -> None:
    site = site_of(ctx)
    reason = refusal(site)
    if reason:
        raise ProvisionError(reason)
    backup_id = (ctx.task.args or {}).get("backup")
    backup = Backup.objects.filter(pk=backup_id).first() if backup_id else None
    if backup is None or backup.site_id != site.pk or backup.domain != site.domain:
        raise ProvisionError(f"Backup #{backup_id} is not a backup of {site.domain}.")
    if backup.manifest.get("files_included") is False:
        raise ProvisionError(f"Backup #{backup.pk} holds only the database: it cannot re-create the site.")
    from hosting.operations.offsite import ensure_local

    path = ensure_local(ctx, backup)  # fetched from a remote when the local copy is gone
    directory = resources.site_dir(site)
    if directory.exists():
        raise ProvisionError(f"{directory} exists already; it is left alone. Verify the platform to import it, "
                             "or remove it first.")
    ctx.state.update({"backup_path": str(path), "backup_id": backup.pk, "site_dir": str(directory)})
    ctx.save_state()
    ctx.info(f"Restoring {site.domain} from backup #{backup.pk} ({path.name}, "
             f"made {backup.created_at:%Y-%m-%d %H:%M:%S} UTC).")


def files(ctx: Context) -> None:
    # Again just before writing: a site of the same domain may have been added since the check
    # (no lock spans domains), and this step's undo removes what is at the site's path.
    site = site_of(ctx)
    if taken_by(site) is not None or Path(ctx.state["site_dir"]).exists():
        raise ProvisionError(f"{site.domain} was taken, or sites/{site.domain} created, since the check.")
    flag(ctx, "files")
    restore_backup(Path(ctx.state["backup_path"]), Path(ctx.state["site_dir"]), None, None, ctx.runner,
                   files_link_roots=files_link_roots(site.domain))
    ctx.info(f"{ctx.state['site_dir']} restored.")


def files_undo(ctx: Context) -> None:
    if ctx.state.pop("files", False):
        directory = Path(ctx.state["site_dir"])
        if directory.exists():
            sitefiles.remove(directory)
        ctx.save_state()


def database(ctx: Context) -> None:
    site = site_of(ctx)
    directory = Path(ctx.state["site_dir"])
    handle = ownership.recorded(site, directory)
    if handle is None:
        ctx.warning(f"No database is recorded for {site.domain}: only its files are restored.")
        return
    driver = handle.driver
    if not handle.inside_site and driver.database_exists(handle.name):
        raise ProvisionError(f"The database {handle.name} exists already on {driver.server.label}; "
                             "it belongs to something else and is left alone.")
    flag(ctx, "database")
    if handle.user and driver.server.engine != "sqlite" and not driver.user_exists(handle.user):
        driver.create_user(handle.user, settings_in(ctx, directory).password)
        flag(ctx, "user_made")
    reload_from_archive(Path(ctx.state["backup_path"]), driver, handle.name, ctx.runner, owner=handle.user or None)
    ctx.info(f"Database {handle.name} loaded from the backup.")


def database_undo(ctx: Context) -> None:
    if not ctx.state.get("database"):
        return
    site = site_of(ctx)
    handle = ownership.recorded(site, Path(ctx.state["site_dir"]))
    if handle is not None and not handle.inside_site:
        handle.driver.drop_database(handle.name)
        if ctx.state.get("user_made") and handle.user:
            handle.driver.drop_user(handle.user)
    ctx.state.pop("database", None)
    ctx.state.pop("user_made", None)
    ctx.save_state()


def vhost(ctx: Context) -> None:
    site = site_of(ctx)
    flag(ctx, "vhost")
    write_vhost(ctx, site.domain, site.aliases, site.platform)


def vhost_undo(ctx: Context) -> None:
    if ctx.state.pop("vhost", False):
        site = site_of(ctx)
        resources.web_server(site.platform.server, ctx.runner).remove_vhost(site.domain)
        ctx.save_state()


def record(ctx: Context) -> None:
    try:
        with ctx.recording():
            changed = Site.set_status(ctx.task.site_id, Site.ENABLED, only_from=[Site.DELETED],
                                      verified_at=timezone.now())
    except IntegrityError:
        raise ProvisionError("The domain was taken by a live site while the restore ran.") from None
    if not changed:
        raise ProvisionError("The site's record changed while the restore ran.")
    flag(ctx, "recorded")
    with ctx.recording():
        Backup.objects.filter(pk=ctx.state["backup_id"]).update(verified_at=timezone.now())


def record_undo(ctx: Context) -> None:
    if ctx.state.pop("recorded", False):
        with ctx.recording():
            Site.set_status(ctx.task.site_id, Site.DELETED)
        ctx.save_state()


def revive_plan(task: Task) -> Plan:
    return Plan([
        step("check", check, label="Check the deleted site and the backup"),
        step("files", files, files_undo, label="Restore the site directory"),
        step("database", database, database_undo, label="Create the database from the backup"),
        step("vhost", vhost, vhost_undo, label="Write the vhost"),
        step("record", record, record_undo, label="Record the site as enabled"),
    ])
