"""site.verify: is the site whole, and repair what is safe to repair.

check (directory and settings.php; leftovers of interrupted restores removed; with
{"set_aside": <platform id>}, the other copy of a site found on two platforms moved aside) ->
files (files dirs and modes: missing ones created, loose settings.php modes tightened) ->
database (settings.php must name the database the record owns; with {"repair_settings": true}
it is rewritten from the record instead; a record without a database takes the one settings.php
names under ownership.take's rule, {"adopt_database": <name>} being an administrator's
confirmation (hosting.actions.adopt_database); then reached with the site's own password) -> drush (does Drupal
bootstrap: a warning if not) -> vhost (written again if missing or stale, disabled or enabled to
match the record, and the whole web server config tested) -> record (disk figures; the site's
need for attention cleared once all is well).

Verify is idempotent: every repair can run again, so there is nothing to undo."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hosting.engine.steps import Context, Plan
from hosting.models import Platform, Site, Task, TaskLog
from hosting.operations import ownership, resources
from hosting.operations.common import step
from hosting.operations.leftovers import clean_leftovers
from hosting.operations.site_common import (
    database_bytes,
    mark_verified,
    needs_attention,
    new_password,
    platform_by_id,
    settings_in,
    site_of,
    write_site_settings,
)
from provision import drush, sitefiles
from provision.errors import ProvisionError
from provision.settings_php import DatabaseSettings
from provision.sitedb import check_connection


def _args(ctx: Context) -> dict:
    return ctx.task.args if isinstance(ctx.task.args, dict) else {}


def check(ctx: Context, site: Site) -> None:
    if site.status == Site.DELETED:
        raise ProvisionError(f"{site.domain} is deleted.")
    if site.platform.status == Platform.DELETED:
        raise ProvisionError(f"The platform {site.platform.name} of {site.domain} is deleted.")
    clean_leftovers(ctx, site)
    if _args(ctx).get("set_aside"):
        set_aside(ctx, site, _args(ctx)["set_aside"])
    directory = resources.site_dir(site)
    if not directory.is_dir():
        raise ProvisionError(f"{directory} does not exist: the site's files are not on its platform.")
    ctx.state["site_dir"] = str(directory)
    try:
        db = settings_in(ctx, directory)
    except ProvisionError as exc:
        if _args(ctx).get("repair_settings") and (site.db_name or site.db_file):
            ctx.warning(f"{exc} It is rewritten from the record.")
            return
        needs_attention(ctx, site, exc)
        raise
    # Which database: for administrators only, since it may be another client's until the
    # database step has compared it with the record.
    where = db.database if db.driver == "sqlite" else f"{db.database} on {db.host or 'localhost'}"
    ctx.info(f"{directory}: settings.php names a {db.driver} database.")
    ctx.log(TaskLog.DETAIL, f"settings.php names the {db.driver} database {where[:300]}.")
    if _args(ctx).get("imported_by"):
        ctx.info(f"Imported from disk by task #{ctx.task.args['imported_by']}.")


def set_aside(ctx: Context, site: Site, platform_id: object) -> None:
    """Move the other copy of a site found on two platforms out of the way (hidden, kept): an
    administrator said which copy is the site (hosting.actions.resolve_duplicate)."""
    if not isinstance(platform_id, int) or platform_id != site.attention_platform_id \
            or platform_id == site.platform_id:
        ctx.warning("No other copy of the site is waiting to be set aside; nothing was moved.")
        return
    other = platform_by_id(platform_id)
    copy = resources.site_dir(site, other)
    if copy.is_dir() and not copy.is_symlink():
        aside = copy.with_name(f".set-aside-{site.domain}-{ctx.task.pk}")
        sitefiles.move(copy, aside)
        ctx.info(f"The other copy of {site.domain} is set aside: nothing uses it any more.")
        ctx.log(TaskLog.DETAIL, f"The copy on platform {other.name} is set aside as {aside}; remove it once it "
                                "is no longer needed.")
    with ctx.recording():
        Site.objects.filter(pk=site.pk).update(**Site.attention_cleared())
    site.attention, site.attention_detail, site.attention_platform_id = "", "", None


def files(ctx: Context, _site: Site) -> None:
    directory = Path(ctx.state["site_dir"])
    for done in sitefiles.repair(directory):
        ctx.info(f"Repaired: {done}.")
    for problem in sitefiles.check(directory):
        ctx.warning(f"Problem: {problem}.")


def database(ctx: Context, site: Site) -> None:
    directory = Path(ctx.state["site_dir"])
    try:
        declared: DatabaseSettings | None = settings_in(ctx, directory)
    except ProvisionError:
        declared = None  # unreadable, and check let it through only to be repaired
    handle = ownership.recorded(site, directory)
    if handle is None and declared is not None:
        handle = _adopt(ctx, site, declared, directory)
    if handle is None:
        raise ProvisionError(f"No database is recorded for {site.domain}.")
    problem = (ownership.disagreement(site, declared, handle, directory) if declared is not None
               else ownership.Problem("unreadable"))
    if problem and _args(ctx).get("repair_settings"):
        declared = repair_settings(ctx, site, directory, handle, declared)
    elif problem:
        needs_attention(ctx, site, problem)
        raise ownership.mismatch_error(problem)
    else:
        assert declared is not None  # without a problem, settings.php was read
        moved = ownership.elsewhere(site, declared)
        if _args(ctx).get("repair_settings") and moved:
            declared = repair_settings(ctx, site, directory, handle, declared)
        elif _args(ctx).get("repair_settings"):
            ctx.info("settings.php names the database the record owns: nothing to repair.")
        elif moved:
            ctx.warning(moved)
    seconds = check_connection(ownership.connection(site, handle, declared), resources.docroot(site.platform))
    ctx.info(f"The site reaches its database as {handle.user or 'the file owner'} in {seconds * 1000:.0f} ms.")
    ctx.state["db_bytes"] = database_bytes(ctx, handle)


def _adopt(ctx: Context, site: Site, declared: DatabaseSettings, directory: Path) -> resources.SiteDatabase:
    """A record without a database takes the one settings.php names, under ownership.take's
    rule (held until the task ends: the record step writes it); otherwise the site needs
    attention, with the reason (and the name an administrator may adopt)."""
    confirmed = ownership.confirmation(ctx.task, "adopt_database")
    found = ownership.take(ctx, declared, server=site.platform.server, directory=directory, exclude=site.pk,
                           domain=site.domain, confirmed=confirmed)
    if found.problem:
        needs_attention(ctx, site, found.problem, attention_database=found.named)
        raise found.problem.error(f"{found.problem.text} It is not recorded as the database of {site.domain}.")
    if confirmed:
        ctx.info(f"Adopted on an administrator's confirmation (task #{ctx.task.pk}).")
    for field, value in found.fields.items():
        setattr(site, field, value)
    ctx.state["adopted"] = found.fields
    handle = ownership.recorded(site, directory)
    assert handle is not None
    what = ownership.label(handle)
    ctx.info(f"{what[0].upper()}{what[1:]} is recorded as the database of {site.domain}.")
    return handle


def repair_settings(ctx: Context, site: Site, directory: Path, handle: resources.SiteDatabase,
                    declared: DatabaseSettings | None) -> DatabaseSettings:
    """Rewrite settings.php from the record (hash salt and table prefix kept); a database
    server's account gets a new password, written to both, since the old one was settings.php's."""
    password = new_password() if handle.user else ""
    db = ownership.settings_from_record(site, directory, site.platform, password=password,
                                        prefix=declared.prefix if declared is not None else "")
    write_site_settings(ctx, directory, domain=site.domain, aliases=site.aliases, db=db, platform=site.platform,
                        hash_salt=sitefiles.read_hash_salt(directory))
    if handle.user:
        handle.driver.set_password(handle.user, password)
    ctx.info(f"Repaired: settings.php rewritten from the record of {site.domain}: {ownership.label(handle)}"
             f"{f' as {handle.user}' if handle.user else ''}.")
    return db


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
        return
    ctx.info("Drupal bootstraps.")
    # The modules the site uses (a migrate compares them with its target's): listed when asked,
    # and by the first verify once the platform has a package list to compare with. Not on every
    # verify: a second drush run would double the cost of verifying a thousand sites; a migrate
    # lists them again itself before it compares (hosting.operations.site_migrate.prepare).
    if _args(ctx).get("packages") or (not site.packages and platform.packages):
        packages = list_packages(ctx, site)
        if packages is not None:
            ctx.state["packages"] = packages


def list_packages(ctx: Context, site: Site) -> dict[str, str] | None:
    """drush pm:list of SITE where its record says it is, or None (a warning) if drush cannot say."""
    platform = site.platform
    try:
        packages = drush.enabled_packages(ctx.runner, resources.platform_root(platform), resources.docroot(platform),
                                          site.domain)
    except ProvisionError as exc:
        ctx.warning(f"drush pm:list failed: the modules the site uses are not known ({exc})")
        return None
    ctx.info(f"{len(packages)} module(s) and theme(s) enabled.")
    return packages


def vhost(ctx: Context, site: Site) -> None:
    web = resources.web_server(site.platform.server, ctx.runner)
    existed = web.has_vhost(site.domain)
    # The site's own vhost is kept aside while it is disabled; either is rewritten from the
    # current template, which is how a release's vhost changes reach existing sites.
    own = web.site_vhost_path(site.domain)
    before = own.read_text(encoding="utf-8", errors="replace") if own.is_file() else None
    web.write_vhost(resources.site_vhost_spec(site))
    if not existed:
        ctx.info(f"Repaired: the vhost {web.vhost_path(site.domain)} was missing and is written again.")
    elif before is not None and before != own.read_text(encoding="utf-8", errors="replace"):
        ctx.info(f"Rewritten: the vhost {own} differed from the current template.")
    if site.status == Site.DISABLED and not web.is_disabled(site.domain):
        web.disable(site.domain, tls=resources.recorded_tls(site.domain))
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
    fields.update(ctx.state.get("adopted") or {})
    if ctx.state.get("db_bytes") is not None:
        fields["disk_db_bytes"] = ctx.state["db_bytes"]
    if ctx.state.get("packages") is not None:
        fields["packages"] = ctx.state["packages"]
    # The backup store's size changes only with backups and retention, which measure it: a verify
    # (bulk verifies of a thousand sites) does not walk it again.
    if site.status == Site.FAILED:
        fields["status"] = Site.ENABLED
    still = _other_copy(site)
    if still:
        ctx.warning(still.text)
        ctx.log(TaskLog.DETAIL, still.full)
    else:
        fields.update(Site.attention_cleared(), attention_database="")
        if site.attention:
            ctx.info(f"{site.domain} no longer needs attention (it did: {site.attention})")
    mark_verified(ctx, site, **fields)


def _other_copy(site: Site) -> ownership.Problem:
    """The reason the site still needs attention: another platform still holds a copy of it."""
    if not site.attention_platform_id:
        return ownership.OK
    other = platform_by_id(site.attention_platform_id)
    if other.status != Platform.DELETED and resources.site_dir(site, other).is_dir():
        return ownership.Problem(site.attention or f"Another platform holds a copy of {site.domain} too.",
                                 site.attention_detail or f"Platform {other.name} holds a copy of {site.domain} too.")
    return ownership.OK


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


def _locks(task: Task) -> list[str]:
    # Setting a copy aside moves a directory in another platform's sites/: its verify must not
    # be reading it meanwhile.
    aside = (task.args or {}).get("set_aside") if isinstance(task.args, dict) else None
    return [f"platform:{aside}"] if isinstance(aside, int) else []


def verify_plan(task: Task) -> Plan:
    once = _Once()
    return Plan([
        step("check", once(check), label="Check the site directory and settings.php"),
        step("files", once(files), label="Check and repair files and permissions"),
        step("database", once(database), label="Reach the database as the site does"),
        step("drush", once(bootstrap), label="Check that Drupal bootstraps"),
        step("vhost", once(vhost), label="Check and repair the vhost"),
        step("record", once(record), label="Record the result"),
    ], extra_locks=_locks(task))
