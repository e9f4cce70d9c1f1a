"""site.cache-rebuild, site.updatedb and site.cron: the drush work a site needs between installs.

cache-rebuild: drush (cache:rebuild).
updatedb:      backup (database only, kept as "Before database updates") -> updatedb (drush
               updatedb --yes; undo: the database reloaded from that backup) -> cache (drush
               cache:rebuild, as drush does after updates).
cron:          drush (core:cron).
drush:         drush (the command's argument list, checked again by hosting.drushcommands).

Each refuses a site that is not installed or needs attention, and writes settings.php's database
check first (database_of): drush reads settings.php itself, so it must name the database the
record owns before drush runs against it."""
from __future__ import annotations

from pathlib import Path

from hosting.engine.steps import Context, Plan
from hosting.models import Backup, Site, Task
from hosting.operations import ownership, resources
from hosting.operations.common import flag, step
from hosting.operations.leftovers import clean_leftovers
from hosting.operations.site_common import database_of, make_backup, refuse_attention, site_of
from provision import drush
from provision.errors import ProvisionError
from provision.sitedb import reload_from_archive


def _drush_args(ctx: Context) -> tuple[Path, Path, str]:
    """The site's platform root, docroot and domain, after the checks every drush call needs."""
    site = site_of(ctx)
    if site.status not in (Site.ENABLED, Site.DISABLED):
        raise ProvisionError(f"{site.domain} is {site.status}: only an installed site runs drush.")
    refuse_attention(site, ctx.task.kind)
    database_of(ctx, site, resources.site_dir(site))
    platform = site.platform
    return resources.platform_root(platform), resources.docroot(platform), site.domain


def cache_rebuild(ctx: Context) -> None:
    drush.cache_rebuild(ctx.runner, *_drush_args(ctx))


def cron(ctx: Context) -> None:
    drush.cron(ctx.runner, *_drush_args(ctx))


# -- updatedb ------------------------------------------------------------------------------

def backup(ctx: Context) -> None:
    site = site_of(ctx)
    _drush_args(ctx)
    clean_leftovers(ctx, site)
    # The database only: updatedb changes nothing else, and the dump is what its undo reloads.
    made = make_backup(ctx, site, Backup.PRE_UPDATE, files=False)
    ctx.state.update({"backup_path": made.path, "backup_id": made.pk})
    ctx.save_state()
    ctx.info(f"Database backed up before the updates ({Path(made.path).name}).")


def updatedb(ctx: Context) -> None:
    args = _drush_args(ctx)
    flag(ctx, "updating")
    drush.updatedb(ctx.runner, *args)


def reload_from_backup(ctx: Context, mark: str, said: str) -> None:
    """Undo: when the step set MARK, load the site's recorded database back from the backup this
    task took first (ctx.state["backup_path"]), say SAID, and clear MARK."""
    if not ctx.state.get(mark):
        return
    site = site_of(ctx)
    handle = ownership.recorded(site, resources.site_dir(site))
    if handle is None:
        raise ProvisionError(f"No database is recorded for {site.domain}.")
    reload_from_archive(resources.roots().inside(ctx.state["backup_path"]), handle.driver, handle.name,
                        ctx.runner, owner=handle.user or None)
    ctx.info(said)
    ctx.state.pop(mark)
    ctx.save_state()


def updatedb_undo(ctx: Context) -> None:
    reload_from_backup(ctx, "updating", "The database is back as it was before the updates.")


def run_command(ctx: Context) -> None:
    from hosting import drushcommands

    argv = (ctx.task.args or {}).get("argv")
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ProvisionError('A drush task needs its command: args {"argv": [...]}.')
    try:
        drushcommands.check(argv)
    except drushcommands.Refused as exc:
        raise ProvisionError(str(exc)) from None
    drush.command(ctx.runner, *_drush_args(ctx), argv)


def drush_plan(task: Task) -> Plan:
    return Plan([step("drush", run_command, label="Run the drush command")])


def cache_plan(task: Task) -> Plan:
    return Plan([step("drush", cache_rebuild, label="Rebuild caches (drush cache:rebuild)")])


def cron_plan(task: Task) -> Plan:
    return Plan([step("drush", cron, label="Run cron (drush core:cron)")])


def updatedb_plan(task: Task) -> Plan:
    return Plan([
        step("backup", backup, label="Back up the database"),
        step("updatedb", updatedb, updatedb_undo, label="Run database updates (drush updatedb)"),
        step("cache", cache_rebuild, label="Rebuild caches (drush cache:rebuild)"),
    ])
