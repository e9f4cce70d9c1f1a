"""site.delete: backup first, then files, database, vhost; the record last.

prepare -> backup (pre-delete, kept) -> files (sites/<domain> renamed to a hidden
sites/.deleting-<domain>-<task> that no verify imports; undo: renamed back) -> database
(dropped with its user; undo: user created again with the password in settings.php and the
database reloaded from the pre-delete backup) -> vhost (removed; undo: written again, disabled
if it was) -> record (status deleted; undo: the old status) -> purge (the hidden directory
removed; it cannot be undone, and a failure only warns: the site is gone either way) -> keys
(its certificate keys removed, likewise).

A site that never got onto disk (queued, or an install that failed) is only marked deleted."""
from __future__ import annotations

from pathlib import Path

from hosting.engine.steps import Context, Plan
from hosting.models import Backup, Site, Task
from hosting.operations import ownership, resources
from hosting.operations.common import flag, step
from hosting.operations.leftovers import clean_leftovers
from hosting.operations.site_common import (
    database_of,
    make_backup,
    settings_in,
    site_of,
    write_vhost,
)
from provision import sitefiles
from provision.errors import ProvisionError
from provision.sitedb import reload_from_archive


def prepare(ctx: Context) -> None:
    site = site_of(ctx)
    if site.status == Site.DELETED:
        raise ProvisionError(f"{site.domain} is deleted already.")
    directory = resources.site_dir(site)
    web = resources.web_server(site.platform.server, ctx.runner)
    on_disk = directory.is_dir()
    if not on_disk and site.status in (Site.ENABLED, Site.DISABLED):
        raise ProvisionError(f"{directory} does not exist, so no backup can be made first. Verify the site, "
                             "or delete only its record.")
    ctx.state.update({
        "status_before": site.status, "on_disk": on_disk, "site_dir": str(directory),
        "trash": str(directory.with_name(f".deleting-{site.domain}-{ctx.task.pk}")),
        "disabled": web.is_disabled(site.domain), "had_vhost": web.has_vhost(site.domain),
    })
    if on_disk:
        clean_leftovers(ctx, site)
        if site.db_name or site.db_file:
            database_of(ctx, site, directory)  # settings.php agrees: the database can be put back
        else:
            ctx.warning(f"No database is recorded for {site.domain}: none is backed up or dropped.")


def backup(ctx: Context) -> None:
    if ctx.state["on_disk"]:
        made = make_backup(ctx, site_of(ctx), Backup.PRE_DELETE)
        ctx.state.update({"backup_path": made.path, "backup_id": made.pk})
        ctx.save_state()


def files(ctx: Context) -> None:
    if not ctx.state["on_disk"]:
        return
    flag(ctx, "moved")
    sitefiles.move(Path(ctx.state["site_dir"]), Path(ctx.state["trash"]))
    ctx.info(f"{ctx.state['site_dir']} is out of the web server's reach.")


def files_undo(ctx: Context) -> None:
    directory, trash = Path(ctx.state["site_dir"]), Path(ctx.state["trash"])
    if ctx.state.pop("moved", False):
        if trash.exists() and not directory.exists():
            sitefiles.move(trash, directory)
            ctx.info(f"{directory} is back.")
        ctx.save_state()


def _where_now(ctx: Context) -> Path:
    trash = Path(ctx.state["trash"])
    return trash if trash.is_dir() else Path(ctx.state["site_dir"])


def database(ctx: Context) -> None:
    if not ctx.state["on_disk"]:
        return
    site = site_of(ctx)
    if site.db_file:
        ctx.info("The SQLite database is a file in the site directory: it goes with it.")
        return
    if not site.db_name:
        return
    handle = database_of(ctx, site, _where_now(ctx))
    flag(ctx, "dropped")
    handle.driver.drop_database(handle.name)
    if handle.user and handle.driver.server.engine != "sqlite":
        handle.driver.drop_user(handle.user)
    ctx.info(f"Database {handle.name} dropped on {handle.driver.server.label}.")


def database_undo(ctx: Context) -> None:
    if not ctx.state.get("dropped"):
        return
    site = site_of(ctx)
    directory = _where_now(ctx)
    db = settings_in(ctx, directory)
    handle = ownership.recorded(site, directory)  # prepare checked that settings.php agreed
    if handle is None:
        return
    driver = handle.driver
    if handle.user and driver.server.engine != "sqlite" and not driver.user_exists(handle.user):
        driver.create_user(handle.user, db.password)
    reload_from_archive(resources.roots().inside(ctx.state["backup_path"]), driver, handle.name, ctx.runner,
                        owner=handle.user or None)
    ctx.state.pop("dropped")
    ctx.save_state()


def vhost(ctx: Context) -> None:
    site = site_of(ctx)
    flag(ctx, "vhost_removed")
    resources.web_server(site.platform.server, ctx.runner).remove_vhost(site.domain)


def vhost_undo(ctx: Context) -> None:
    if not ctx.state.pop("vhost_removed", False):
        return
    site = site_of(ctx)
    if ctx.state.get("had_vhost"):
        write_vhost(ctx, site.domain, site.aliases, site.platform, site=site)
        if ctx.state.get("disabled"):
            resources.web_server(site.platform.server, ctx.runner).disable(
                site.domain, tls=resources.recorded_tls(site.domain))
    ctx.save_state()


def record(ctx: Context) -> None:
    with ctx.recording():
        Site.set_status(ctx.task.site_id, Site.DELETED)
        flag(ctx, "recorded")


def record_undo(ctx: Context) -> None:
    if ctx.state.get("recorded"):
        with ctx.recording():
            Site.set_status(ctx.task.site_id, ctx.state["status_before"])
            ctx.state.pop("recorded")
            ctx.save_state()


def purge(ctx: Context) -> None:
    trash = Path(ctx.state["trash"])
    try:
        sitefiles.remove(trash)
    except ProvisionError as exc:
        ctx.warning(f"The site is deleted, but its old directory could not be removed: {exc} "
                    "Remove it by hand.")
        return
    ctx.info(f"{ctx.state['site_dir']} removed.")


def keys(ctx: Context) -> None:
    """The site's certificate keys go with it (nothing is revoked: the certificate ends by
    itself, and revoking needs the ACME account's word for nothing gained)."""
    from hosting.models import Certificate
    from provision import certificates

    site = site_of(ctx)
    try:
        removed = certificates.remove_versions(resources.tls_dir(), site.domain)
    except OSError as exc:
        ctx.warning(f"The site is deleted, but its certificate keys could not be removed: {exc.strerror}.")
        return
    with ctx.recording():
        Certificate.objects.filter(site=site).update(path="")
    if removed:
        ctx.info(f"The certificate keys of {site.domain} removed.")


def delete_plan(task: Task) -> Plan:
    return Plan([
        step("prepare", prepare, label="Check the site"),
        step("backup", backup, label="Back up the site (pre-delete)"),
        step("files", files, files_undo, label="Take the site directory away"),
        step("database", database, database_undo, label="Drop the database and its user"),
        step("vhost", vhost, vhost_undo, label="Remove the vhost"),
        step("record", record, record_undo, label="Record the site as deleted"),
        step("purge", purge, label="Remove the site directory", reversible=False),
        step("keys", keys, label="Remove the certificate keys", reversible=False),
    ])
