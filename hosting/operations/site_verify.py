"""site.verify: is the site whole, and repair what is safe to repair.

check (directory and settings.php) -> files (files dirs and modes: missing ones created,
loose settings.php modes tightened) -> database (reachable with the site's own credentials) ->
drush (does Drupal bootstrap: a warning if not) -> vhost (written again if missing or stale,
disabled or enabled to match the record, and the whole web server config tested) -> record.

Verify is idempotent: every repair can run again, so there is nothing to undo."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hosting.engine.steps import Context, Plan
from hosting.models import Platform, Site, Task
from hosting.operations import operation, resources
from hosting.operations.common import step
from hosting.operations.site_common import mark_verified, settings_in, site_of
from provision import drush, sitefiles
from provision.errors import ProvisionError
from provision.sitedb import check_connection


def check(ctx: Context, site: Site) -> None:
    if site.status == Site.DELETED:
        raise ProvisionError(f"{site.domain} is deleted.")
    if site.platform.status == Platform.DELETED:
        raise ProvisionError(f"The platform {site.platform.name} of {site.domain} is deleted.")
    directory = resources.site_dir(site)
    if not directory.is_dir():
        raise ProvisionError(f"{directory} does not exist: the site's files are not on its platform.")
    db = settings_in(ctx, directory)
    ctx.state["site_dir"] = str(directory)
    where = db.database if db.driver == "sqlite" else f"{db.database} on {db.host or 'localhost'}"
    ctx.info(f"{directory}: settings.php names the {db.driver} database {where}.")
    if (ctx.task.args or {}).get("imported_by"):
        ctx.info(f"Imported from disk by task #{ctx.task.args['imported_by']}.")


def files(ctx: Context, _site: Site) -> None:
    directory = Path(ctx.state["site_dir"])
    for done in sitefiles.repair(directory):
        ctx.info(f"Repaired: {done}.")
    for problem in sitefiles.check(directory):
        ctx.warning(f"Problem: {problem}.")


def database(ctx: Context, site: Site) -> None:
    directory = Path(ctx.state["site_dir"])
    db = settings_in(ctx, directory)
    handle = resources.site_database(site.platform.server, db, docroot_path=resources.docroot(site.platform),
                                     directory=directory)
    seconds = check_connection(db, resources.docroot(site.platform))
    ctx.info(f"The site reaches its database as {db.username or 'the file owner'} in {seconds * 1000:.0f} ms.")
    ctx.state["db_name"], ctx.state["db_user"] = handle.name, handle.user


def bootstrap(ctx: Context, site: Site) -> None:
    platform = site.platform
    try:
        state = drush.status_field(ctx.runner, resources.platform_root(platform), resources.docroot(platform),
                                   site.domain, "bootstrap")
    except ProvisionError as exc:
        ctx.warning(f"drush status failed: {exc}")
        return
    if state != "Successful":
        ctx.warning(f"Drupal does not bootstrap for {site.domain} (drush status: {state or 'no answer'}).")
    else:
        ctx.info("Drupal bootstraps.")


def vhost(ctx: Context, site: Site) -> None:
    web = resources.web_server(site.platform.server, ctx.runner)
    existed = web.has_vhost(site.domain)
    web.write_vhost(resources.vhost_spec(site.domain, site.aliases, site.platform))
    if not existed:
        ctx.info(f"Repaired: the vhost {web.vhost_path(site.domain)} was missing and is written again.")
    if site.status == Site.DISABLED and not web.is_disabled(site.domain):
        web.disable(site.domain)
        ctx.info("Repaired: the site is disabled, so its vhost now shows the 'site disabled' page.")
    elif site.status == Site.ENABLED and web.is_disabled(site.domain):
        web.enable(site.domain)
        ctx.info("Repaired: the site is enabled, so its own vhost is back.")
    web.test()
    if web.kind == "none":
        ctx.info(f"Vhost {web.vhost_path(site.domain)} present (no web server here to load it).")
    else:
        ctx.info(f"Vhost {web.vhost_path(site.domain)} present; {web.kind} accepts the configuration.")


def record(ctx: Context, site: Site) -> None:
    fields: dict[str, object] = {"disk_files_bytes": sitefiles.disk_usage(Path(ctx.state["site_dir"]))}
    if not site.db_name or site.imported:
        fields["db_name"] = str(ctx.state.get("db_name", ""))[:64]
        fields["db_user"] = str(ctx.state.get("db_user", ""))[:80]
    if site.status == Site.FAILED:
        fields["status"] = Site.ENABLED
    mark_verified(site, **fields)


class _Once:
    """The site record, read once per run: a verify changes it only in its last step, and the
    site's lock keeps other tasks off it meanwhile (one query instead of one per step)."""

    def __init__(self) -> None:
        self.site: Site | None = None

    def __call__(self, run: Callable[[Context, Site], None]) -> Callable[[Context], None]:
        def with_site(ctx: Context) -> None:
            if self.site is None:
                self.site = site_of(ctx)
            run(ctx, self.site)
        return with_site


@operation("site.verify")
def verify_plan(task: Task) -> Plan:
    once = _Once()
    return Plan([
        step("check", once(check), label="Check the site directory and settings.php"),
        step("files", once(files), label="Check and repair files and permissions"),
        step("database", once(database), label="Reach the database as the site does"),
        step("drush", once(bootstrap), label="Check that Drupal bootstraps"),
        step("vhost", once(vhost), label="Check and repair the vhost"),
        step("record", once(record), label="Record the result"),
    ])
