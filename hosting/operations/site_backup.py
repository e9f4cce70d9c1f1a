"""site.backup and site.restore.

backup:  archive (one <domain>-<UTC>.tar.zst: manifest and streamed database dump, the site's
         files in the incremental object store beside it; undo: the file removed, its new objects
         left to garbage collection) -> record (the Backup row; undo: the row removed).
restore: check (the backup is this site's, on disk, inside the roots) -> safety-backup (a
         pre-restore backup, kept) -> restore (database and directory replaced; undo: the
         safety backup restored the same way) -> verify (the site reaches its database) ->
         record. Args: {"backup": <Backup id>}."""
from __future__ import annotations

from pathlib import Path

from django.utils import timezone

from hosting.engine.steps import Context, Plan
from hosting.models import Backup, Site, Task
from hosting.operations import ownership, resources
from hosting.operations.backups import files_link_roots
from hosting.operations.common import flag, step
from hosting.operations.leftovers import clean_leftovers
from hosting.operations.offsite import ensure_local
from hosting.operations.site_common import (
    archive_site,
    database_of,
    make_backup,
    manifest_summary,
    mark_verified,
    measure,
    record_backup,
    refuse_attention,
    settings_in,
    site_of,
)
from provision import sitefiles
from provision.backup import restore_backup
from provision.errors import ProvisionError
from provision.sitedb import check_connection, reload_from_archive

KINDS = (Backup.MANUAL, Backup.SCHEDULED)


def usable(site: Site, kind: str) -> None:
    if site.status not in (Site.ENABLED, Site.DISABLED):
        raise ProvisionError(f"{site.domain} is {site.status}: only an installed site can be backed up or restored.")
    refuse_attention(site, kind)


# -- backup --------------------------------------------------------------------------------

def archive(ctx: Context) -> None:
    site = site_of(ctx)
    usable(site, "backup")
    kind = (ctx.task.args or {}).get("kind", Backup.MANUAL)
    if kind not in KINDS:
        raise ProvisionError(f"A backup task makes {' or '.join(KINDS)} backups, not {kind!r}.")
    clean_leftovers(ctx, site)
    result = archive_site(ctx, site)
    ctx.state.update({"archive": str(result.path), "size": result.size, "sha256": result.sha256,
                      "kind": kind, "manifest": manifest_summary(result.manifest)})
    ctx.save_state()


def archive_undo(ctx: Context) -> None:
    if ctx.state.get("archive"):
        Path(ctx.state.pop("archive")).unlink(missing_ok=True)
        ctx.save_state()


def record(ctx: Context) -> None:
    site = site_of(ctx)
    backup = record_backup(ctx, site, ctx.state["kind"], Path(ctx.state["archive"]), ctx.state["size"],
                           ctx.state["sha256"], ctx.state["manifest"])
    flag(ctx, "backup_id", backup.pk)
    ctx.set_flag("backup", backup.pk)


def record_undo(ctx: Context) -> None:
    if ctx.state.get("backup_id"):
        with ctx.recording():
            Backup.objects.filter(pk=ctx.state["backup_id"]).delete()
        ctx.state.pop("backup_id")
        ctx.save_state()


def backup_plan(task: Task) -> Plan:
    return Plan([
        step("archive", archive, archive_undo, label="Archive the site and its database"),
        step("record", record, record_undo, label="Record the backup"),
    ])


# -- restore -------------------------------------------------------------------------------

def check(ctx: Context) -> None:
    site = site_of(ctx)
    usable(site, "restore")
    clean_leftovers(ctx, site)
    backup_id = (ctx.task.args or {}).get("backup")
    backup = Backup.objects.filter(pk=backup_id).first() if backup_id else None
    if backup is None:
        raise ProvisionError(f"There is no backup #{backup_id}." if backup_id else "Say which backup to restore.")
    if backup.site_id not in (None, site.pk) or backup.domain != site.domain \
            or backup.manifest.get("domain", site.domain) != site.domain:
        raise ProvisionError(f"Backup #{backup.pk} is of {backup.domain}, not of {site.domain}; "
                             "clone that site instead.")
    if backup.manifest.get("files_included") is False:
        raise ProvisionError(f"Backup #{backup.pk} holds only the database (made before a migrate, whose "
                             "files were moved, not changed): it cannot be restored as a whole site.")
    path = ensure_local(ctx, backup)  # fetched from a remote when the local copy is gone
    if backup.size and path.stat().st_size != backup.size:
        raise ProvisionError(f"The file of backup #{backup.pk} is {path.stat().st_size} bytes, but "
                             f"{backup.size} were written: it is damaged.")
    handle = database_of(ctx, site, resources.site_dir(site))
    engine = (backup.manifest.get("database") or {}).get("engine")
    wanted = handle.driver.server.engine
    if engine and engine != wanted:
        raise ProvisionError(f"Backup #{backup.pk} holds a {engine} database; {site.domain} uses {wanted}.")
    ctx.state.update({"backup_path": str(path), "backup_id": backup.pk})
    ctx.info(f"Restoring backup #{backup.pk} ({path.name}, made {backup.created_at:%Y-%m-%d %H:%M} UTC).")


def safety_backup(ctx: Context) -> None:
    backup = make_backup(ctx, site_of(ctx), Backup.PRE_RESTORE)
    ctx.state.update({"safety_path": backup.path, "safety_id": backup.pk})
    ctx.save_state()


def put_back(ctx: Context, archive_path: Path, *, undoing: bool = False) -> None:
    """Replace the site's directory and database with those in ARCHIVE_PATH. The database is
    the recorded one; going forward settings.php must agree with the record, while an undo puts
    back the safety backup whatever the restored settings.php says."""
    site = site_of(ctx)
    directory = resources.site_dir(site)
    handle = ownership.recorded(site, directory) if undoing else database_of(ctx, site, directory)
    if handle is None:
        raise ProvisionError(f"No database is recorded for {site.domain}.")
    # The same places a backup of the site may follow or keep files/ into: what a backup holds,
    # a restore creates (provision.backup.links).
    link_roots = files_link_roots(site.domain)
    if handle.inside_site:
        # The database file is in the directory: the dump, not the file copy, is the truth.
        restore_backup(archive_path, directory, None, None, ctx.runner, files_link_roots=link_roots)
        reload_from_archive(archive_path, handle.driver, handle.name, ctx.runner)
    else:
        restore_backup(archive_path, directory, handle.driver, handle.name, ctx.runner,
                       db_owner=handle.user or None, files_link_roots=link_roots)


def restore(ctx: Context) -> None:
    flag(ctx, "restoring")
    put_back(ctx, Path(ctx.state["backup_path"]))


def restore_undo(ctx: Context) -> None:
    if ctx.state.get("restoring") and ctx.state.get("safety_path"):
        ctx.info(f"Putting back the pre-restore backup #{ctx.state['safety_id']}.")
        put_back(ctx, resources.roots().inside(ctx.state["safety_path"]), undoing=True)
        ctx.state.pop("restoring")
        ctx.save_state()


def verify(ctx: Context) -> None:
    site = site_of(ctx)
    directory = resources.site_dir(site)
    handle = database_of(ctx, site, directory)
    check_connection(ownership.connection(site, handle, settings_in(ctx, directory)), resources.docroot(site.platform))
    for problem in sitefiles.check(directory):
        ctx.warning(f"Problem after the restore: {problem}.")
    ctx.info("The restored site reaches its database.")


def restore_record(ctx: Context) -> None:
    site = site_of(ctx)
    directory = resources.site_dir(site)
    mark_verified(ctx, site, disk_files_bytes=sitefiles.disk_usage(directory))
    measure(ctx, site, database_of(ctx, site, directory))
    with ctx.recording():
        Backup.objects.filter(pk=ctx.state["backup_id"]).update(verified_at=timezone.now())


def restore_plan(task: Task) -> Plan:
    return Plan([
        step("check", check, label="Check the backup"),
        step("safety-backup", safety_backup, label="Back up the site as it is now"),
        step("restore", restore, restore_undo, label="Replace the database and files"),
        step("verify", verify, label="Check the restored site"),
        step("record", restore_record, label="Record the result"),
    ])
