"""site.migrate: move a site to another platform on the same server. Args: {"platform": id}.

prepare -> backup (pre-migrate database dump, kept) -> move (sites/<domain> renamed into the target's
sites/; undo: moved back) -> settings (settings.php rewritten for the target's Drupal, salt and
database kept; undo: the old file back) -> updatedb (drush updatedb on the target; undo: the
database reloaded from the pre-migrate backup) -> vhost (docroot of the target; undo: the old
vhost) -> record (platform_id; undo: back) -> verify (database reachable and Drupal bootstraps
on the target, or everything above is undone) -> cleanup.

Any failure leaves the site on its old platform as it was: the same directory, settings.php,
database rows, vhost and record."""
from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from hosting.engine.steps import Context, Plan
from hosting.models import Backup, Site, Task
from hosting.operations import ownership, resources
from hosting.operations.common import flag, step, target_rows
from hosting.operations.leftovers import clean_leftovers
from hosting.operations.site_common import (
    database_of,
    make_backup,
    mark_verified,
    platform_by_id,
    refuse_attention,
    settings_in,
    site_of,
    write_site_settings,
    write_vhost,
)
from hosting.packages import migrate_refusal
from provision import drush, sitefiles
from provision.errors import ProvisionError
from provision.preflight import check_copy_space
from provision.sitedb import check_connection, reload_from_archive


def _target_id(task: Task) -> int:
    try:
        return int((task.args or {})["platform"])
    except (KeyError, TypeError, ValueError):
        raise ProvisionError('A migrate needs the target platform: args {"platform": <id>}.') from None


def prepare(ctx: Context) -> None:
    site = site_of(ctx)
    if site.status not in (Site.ENABLED, Site.DISABLED):
        raise ProvisionError(f"{site.domain} is {site.status}: only an installed site can be migrated.")
    refuse_attention(site, "migrate")
    clean_leftovers(ctx, site)
    old, new = site.platform, platform_by_id(_target_id(ctx.task))
    if new.pk == old.pk:
        raise ProvisionError(f"{site.domain} is on platform {old.name} already.")
    if new.server_id != old.server_id:
        raise ProvisionError(f"Platform {new.name} is on server {new.server.name}, {site.domain} on "
                             f"{old.server.name}: a migrate stays on one server (clone across servers).")
    resources.usable_platform(new, for_new_site=True)
    if new.packages:
        # What the site uses now, not at its last verify: a module enabled since must be found.
        from hosting.operations.site_verify import list_packages

        listed = list_packages(ctx, site)
        if listed is not None:
            with ctx.recording():
                target_rows(Site, site.pk).update(packages=listed)
            site.packages = listed
    refused = migrate_refusal(site, new)
    if refused:
        raise ProvisionError(refused)
    source = resources.site_dir(site)
    target = resources.site_dir(site, new)
    if not source.is_dir():
        raise ProvisionError(f"{source} does not exist: verify the site first.")
    if target.exists() or target.is_symlink():
        raise ProvisionError(f"{target} exists already on platform {new.name}; nothing was changed.")
    database_of(ctx, site, source)  # the database must be one we can reload on a rollback
    if os.stat(source).st_dev != os.stat(target.parent).st_dev:
        # Not a rename but a copy: it must fit beside the original.
        check_copy_space([source], target.parent, f"Moving {site.domain} to {new.name}", sitefiles.disk_usage)
    ctx.state.update({"old_platform": old.pk, "new_platform": new.pk, "source": str(source),
                      "target": str(target)})
    ctx.info(f"Migrating {site.domain} from {old.name} (Drupal {old.drupal_version}) to {new.name} "
             f"(Drupal {new.drupal_version}).")


def backup(ctx: Context) -> None:
    # The database only: the files are moved, not changed, and the move's undo puts them back;
    # the dump is what updatedb's undo needs. A full backup here was most of a migrate's time.
    made = make_backup(ctx, site_of(ctx), Backup.PRE_MIGRATE, files=False)
    ctx.state.update({"backup_path": made.path, "backup_id": made.pk})
    ctx.save_state()


def move(ctx: Context) -> None:
    source, target = Path(ctx.state["source"]), Path(ctx.state["target"])
    flag(ctx, "moving")
    sitefiles.move(source, target)
    flag(ctx, "moved")
    ctx.info(f"Moved {source} to {target}.")


def move_undo(ctx: Context) -> None:
    source, target = Path(ctx.state["source"]), Path(ctx.state["target"])
    if not ctx.state.get("moving"):
        return
    if target.exists() and not source.exists():
        sitefiles.move(target, source)
        ctx.info(f"Moved {target} back to {source}.")
    elif target.exists() and source.exists() and not ctx.state.get("moved"):
        # A copy across filesystems was interrupted: the source is whole, the copy is not.
        sitefiles.remove(target)
    ctx.state.pop("moving", None)
    ctx.state.pop("moved", None)
    ctx.save_state()


def _saved_settings(target: Path) -> Path:
    return target / ".settings.php.pre-migrate"


def settings(ctx: Context) -> None:
    site = site_of(ctx)
    new = platform_by_id(ctx.state["new_platform"])
    target = Path(ctx.state["target"])
    if not sitefiles.is_ours(target):
        ctx.warning("settings.php was not written by Harbormaster: it is left as it is. Check that its "
                    "paths suit the new platform.")
        return
    declared = settings_in(ctx, target)
    # From the record (prepare checked that settings.php agreed): an SQLite file inside the
    # site directory moved with it, and its path in settings.php follows.
    db = ownership.settings_from_record(site, target, new, password=declared.password, prefix=declared.prefix)
    saved = _saved_settings(target)
    saved.unlink(missing_ok=True)
    shutil.copy2(target / "settings.php", saved)  # kept, mode and all, until the migrate is done
    flag(ctx, "settings_saved")
    salt = sitefiles.read_hash_salt(target) or secrets.token_urlsafe(48)
    write_site_settings(ctx, target, domain=site.domain, aliases=site.aliases, db=db, platform=new, hash_salt=salt)
    ctx.info(f"settings.php written for Drupal {new.drupal_version}.")


def settings_undo(ctx: Context) -> None:
    if not ctx.state.get("settings_saved"):
        return
    # Wherever the directory is now (the move may have been undone already).
    for base in (Path(ctx.state["target"]), Path(ctx.state["source"])):
        saved = _saved_settings(base)
        if saved.exists():
            os.replace(saved, base / "settings.php")
            ctx.info("The old settings.php is back.")
            break
    ctx.state.pop("settings_saved")
    ctx.save_state()


def updatedb(ctx: Context) -> None:
    site = site_of(ctx)
    new = platform_by_id(ctx.state["new_platform"])
    flag(ctx, "updating")
    drush.updatedb(ctx.runner, resources.platform_root(new), resources.docroot(new), site.domain)


def updatedb_undo(ctx: Context) -> None:
    if not ctx.state.get("updating"):
        return
    # The database may carry the new code's schema now: the pre-migrate dump is the old one.
    site = site_of(ctx)
    directory = next(p for p in (Path(ctx.state["target"]), Path(ctx.state["source"])) if p.is_dir())
    handle = ownership.recorded(site, directory)  # the record's, whatever settings.php says by now
    if handle is None:
        raise ProvisionError(f"No database is recorded for {site.domain}.")
    reload_from_archive(resources.roots().inside(ctx.state["backup_path"]), handle.driver, handle.name,
                        ctx.runner, owner=handle.user or None)
    ctx.state.pop("updating")
    ctx.save_state()


def vhost(ctx: Context) -> None:
    site = site_of(ctx)
    flag(ctx, "vhost_written")
    write_vhost(ctx, site.domain, site.aliases, platform_by_id(ctx.state["new_platform"]), site=site)


def vhost_undo(ctx: Context) -> None:
    if ctx.state.pop("vhost_written", False):
        site = site_of(ctx)
        write_vhost(ctx, site.domain, site.aliases, platform_by_id(ctx.state["old_platform"]), site=site)
        ctx.save_state()


def record(ctx: Context) -> None:
    with ctx.recording():
        target_rows(Site, ctx.task.site_id).update(platform_id=ctx.state["new_platform"])
        flag(ctx, "recorded")


def record_undo(ctx: Context) -> None:
    if ctx.state.get("recorded"):
        with ctx.recording():
            target_rows(Site, ctx.task.site_id).update(platform_id=ctx.state["old_platform"])
            ctx.state.pop("recorded")
            ctx.save_state()


def verify(ctx: Context) -> None:
    site = site_of(ctx)
    new = platform_by_id(ctx.state["new_platform"])
    target = Path(ctx.state["target"])
    handle = database_of(ctx, site, target)
    check_connection(ownership.connection(site, handle, settings_in(ctx, target)), resources.docroot(new))
    state = drush.status_field(ctx.runner, resources.platform_root(new), resources.docroot(new), site.domain,
                               "bootstrap")
    if state != "Successful":
        raise ProvisionError(f"Drupal does not bootstrap for {site.domain} on {new.name} "
                             f"(drush status: {state or 'no answer'}).")
    ctx.info(f"{site.domain} works on platform {new.name}.")


def cleanup(ctx: Context) -> None:
    try:
        _saved_settings(Path(ctx.state["target"])).unlink(missing_ok=True)
    except OSError as exc:
        ctx.warning(f"Could not remove the old settings.php copy: {exc.strerror}.")
    mark_verified(ctx, site_of(ctx))


def _locks(task: Task) -> list[str]:
    try:
        return [f"platform:{_target_id(task)}"]
    except ProvisionError:
        return []  # prepare says what is wrong


def migrate_plan(task: Task) -> Plan:
    return Plan([
        step("prepare", prepare, label="Check the target platform"),
        step("backup", backup, label="Back up the database (pre-migrate)"),
        step("move", move, move_undo, label="Move the site directory"),
        step("settings", settings, settings_undo, label="Write settings.php for the target"),
        step("updatedb", updatedb, updatedb_undo, label="Run database updates (drush updatedb)"),
        step("vhost", vhost, vhost_undo, label="Point the vhost at the target"),
        step("record", record, record_undo, label="Record the new platform"),
        step("verify", verify, label="Check the site on the target"),
        step("cleanup", cleanup, label="Clean up"),
    ], extra_locks=_locks(task))
