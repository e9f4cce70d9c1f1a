"""site.clone: a copy of a site under a new domain, with its own database, on the same or
another platform of the same server. Args: {"domain": "new.example.com", "platform": id}
(platform optional: the site's own).

prepare -> copy (sites/<new> from sites/<old>, copy-on-write where the filesystem can; undo:
removed) -> settings (settings.php for the new domain, a new database user and password) ->
database (new database and user, the source's dump loaded; undo: dropped) -> vhost (undo:
removed) -> updatedb (drush updatedb on the target platform) -> verify -> record (the new
Site row; undo: removed). The source site is only read."""
from __future__ import annotations

import secrets
from pathlib import Path

from django.db import IntegrityError
from django.utils import timezone

from hosting.engine.steps import Context, Plan
from hosting.models import Site, Task
from hosting.operations import ownership, resources
from hosting.operations.backups import files_link_roots
from hosting.operations.common import flag, step
from hosting.operations.leftovers import clean_leftovers
from hosting.operations.site_common import (
    copy_database,
    create_database,
    database_of,
    drop_created,
    measure,
    new_password,
    platform_by_id,
    refuse_attention,
    remove_vhost,
    settings_in,
    site_of,
    write_site_settings,
    write_vhost,
)
from provision import drush, sitefiles
from provision.backup import links
from provision.db.sqlite import SQLiteDriver
from provision.domains import normalise_domain
from provision.errors import InvalidDomain, ProvisionError
from provision.preflight import check_copy_space
from provision.sitedb import check_connection


def _args(task: Task) -> tuple[str, int | None]:
    args = task.args or {}
    try:
        domain = normalise_domain(str(args.get("domain", "")))
    except InvalidDomain as exc:
        raise ProvisionError(f"The clone's new domain is not valid: {exc}") from None
    platform = args.get("platform")
    try:
        return domain, (int(platform) if platform not in (None, "") else None)
    except (TypeError, ValueError):
        raise ProvisionError(f"{platform!r} is not a platform id.") from None


def prepare(ctx: Context) -> None:
    site = site_of(ctx)
    if site.status not in (Site.ENABLED, Site.DISABLED):
        raise ProvisionError(f"{site.domain} is {site.status}: only an installed site can be cloned.")
    refuse_attention(site, "clone")
    clean_leftovers(ctx, site)
    domain, platform_id = _args(ctx.task)
    new = platform_by_id(platform_id) if platform_id else site.platform
    if domain == site.domain:
        raise ProvisionError("A clone needs a domain of its own.")
    if Site.objects.exclude(status=Site.DELETED).filter(domain=domain).exists():
        raise ProvisionError(f"A site {domain} exists already.")
    if new.server_id != site.platform.server_id:
        raise ProvisionError(f"Platform {new.name} is on another server; a clone stays on {site.platform.server.name}.")
    resources.usable_platform(new, for_new_site=True)
    source = resources.site_dir(site)
    target = sitefiles.locate(resources.roots(), resources.docroot(new), domain)
    if not source.is_dir():
        raise ProvisionError(f"{source} does not exist: verify the site first.")
    if target.exists() or target.is_symlink():
        raise ProvisionError(f"{target} exists already; nothing was changed.")
    web = resources.web_server(new.server, ctx.runner)
    if web.has_vhost(domain):
        raise ProvisionError(f"A vhost for {domain} exists already; nothing was changed.")
    database_of(ctx, site, source)  # a database we can dump
    name, user = resources.new_database_names(domain, resources.db_driver(new.server),
                                              lambda n: not ownership.reserve(ctx, new.server, n))
    ctx.state.update({"domain": domain, "new_platform": new.pk, "source": str(source), "target": str(target),
                      "db_name": name, "db_user": user})
    ctx.info(f"Cloning {site.domain} to {domain} on platform {new.name}, database {name}.")


def copy(ctx: Context) -> None:
    site = site_of(ctx)
    source, target = Path(ctx.state["source"]), Path(ctx.state["target"])
    if target.exists() or target.is_symlink():
        raise ProvisionError(f"{target} exists already; nothing was changed.")
    # The same rule as backups (provision.backup.links): files/ is followed only into the
    # site's own files root; a link to another site's files or to /etc is never copied from.
    link = links.files_link(source, site.files_symlink == Site.FILES_FOLLOW,
                            links.allowed_roots(files_link_roots(site.domain)))
    trees = [source] + ([link.real] if link is not None and link.real is not None else [])
    # Full size even where copy-on-write will share the blocks: cp cannot say beforehand
    # whether it will reflink, and a clone that fills the disk half way hurts every site.
    check_copy_space(trees, target.parent, f"The clone of {site.domain}", sitefiles.disk_usage)
    flag(ctx, "copying")
    sitefiles.copy(ctx.runner, source, target)
    files = target / "files"
    if link is not None and files.is_symlink():
        if link.refused is not None:
            files.unlink()
            ctx.warning(f"files/ is a link to {link.target[:200]!r}, which is not copied: {link.refused}.")
        elif link.real is not None:
            # Two sites writing one files/ directory would each delete the other's files.
            files.unlink()
            sitefiles.copy(ctx.runner, link.real, files)
            ctx.info(f"files/ was a link to {link.real}: the clone has its own copy.")
        elif links.files_external(link.target):
            ctx.warning("files/ is a link kept as a link (the site's setting): the clone shares it with the source.")
    handle = database_of(ctx, site, source)
    # inside_site: an SQLite file (hosting.operations.ownership.inside_site).
    if handle.inside_site and isinstance(handle.driver, SQLiteDriver):
        # The copy of the source's SQLite file is the source's data, not the clone's database.
        copied = target / Path(handle.driver.path_of(handle.name)).relative_to(source)
        copied.unlink(missing_ok=True)
    ctx.info(f"Copied {source} to {target}.")


def copy_undo(ctx: Context) -> None:
    if ctx.state.pop("copying", False):
        sitefiles.remove(Path(ctx.state["target"]))
        ctx.save_state()


def settings(ctx: Context) -> None:
    new = platform_by_id(ctx.state["new_platform"])
    db = resources.db_driver(new.server).settings_for(ctx.state["db_name"], ctx.state["db_user"], new_password())
    write_site_settings(ctx, Path(ctx.state["target"]), domain=ctx.state["domain"], aliases=[], db=db,
                        platform=new, hash_salt=secrets.token_urlsafe(48))
    ctx.info("settings.php written for the clone.")


def database(ctx: Context) -> None:
    site = site_of(ctx)
    new = platform_by_id(ctx.state["new_platform"])
    target = Path(ctx.state["target"])
    create_database(ctx, "db_made", new, target, ctx.state["db_name"], ctx.state["db_user"])
    source_db = database_of(ctx, site, Path(ctx.state["source"]))
    target_db = _target_database(ctx)
    copy_database(ctx, source_db, target_db, resources.work_dir())
    ctx.info(f"The database of {site.domain} is copied into {target_db.name}.")


def _target_database(ctx: Context) -> resources.SiteDatabase:
    return ownership.on_server(platform_by_id(ctx.state["new_platform"]).server, ctx.state["db_name"],
                               ctx.state["db_user"])


def database_undo(ctx: Context) -> None:
    drop_created(ctx, "db_made")


def vhost(ctx: Context) -> None:
    flag(ctx, "vhost_made")
    write_vhost(ctx, ctx.state["domain"], [], platform_by_id(ctx.state["new_platform"]))


def vhost_undo(ctx: Context) -> None:
    if ctx.state.pop("vhost_made", False):
        remove_vhost(ctx, ctx.state["domain"], platform_by_id(ctx.state["new_platform"]))
        ctx.save_state()


def _drush_args(ctx: Context) -> tuple[Path, Path, str]:
    new = platform_by_id(ctx.state["new_platform"])
    return resources.platform_root(new), resources.docroot(new), ctx.state["domain"]


def updatedb(ctx: Context) -> None:
    drush.updatedb(ctx.runner, *_drush_args(ctx))


def verify(ctx: Context) -> None:
    root, docroot, domain = _drush_args(ctx)
    target = Path(ctx.state["target"])
    handle = _target_database(ctx)
    check_connection(handle.driver.settings_for(handle.name, handle.user, settings_in(ctx, target).password), docroot)
    state = drush.status_field(ctx.runner, root, docroot, domain, "bootstrap")
    if state != "Successful":
        raise ProvisionError(f"Drupal does not bootstrap for {domain} (drush status: {state or 'no answer'}).")
    ctx.info(f"{domain} works.")


def record(ctx: Context) -> None:
    site = site_of(ctx)
    used = sitefiles.disk_usage(Path(ctx.state["target"]))
    try:
        with ctx.recording():
            clone = Site.objects.create(
                domain=ctx.state["domain"], platform_id=ctx.state["new_platform"], client=site.client,
                profile=site.profile, status=Site.ENABLED, db_name=ctx.state["db_name"],
                db_user=ctx.state["db_user"], files_symlink=site.files_symlink, verified_at=timezone.now(),
                disk_files_bytes=used, https_mode=site.https_mode, https_hsts=site.https_hsts)
            flag(ctx, "clone_id", clone.pk)
    except IntegrityError:
        raise ProvisionError(f"A site {ctx.state['domain']} was recorded meanwhile; the clone is undone.") from None
    ctx.set_flag("clone", clone.pk)
    measure(ctx, clone, _target_database(ctx))
    ctx.info(f"Site {clone.domain} recorded (#{clone.pk}).")


def record_undo(ctx: Context) -> None:
    if ctx.state.get("clone_id"):
        with ctx.recording():
            Site.objects.filter(pk=ctx.state.pop("clone_id")).delete()
            ctx.save_state()


def _locks(task: Task) -> list[str]:
    # The new domain, and the target platform: a platform verify running meanwhile would
    # import the half-made clone as a site of its own.
    try:
        domain, platform_id = _args(task)
    except ProvisionError:
        return []
    platform_id = platform_id or (task.site.platform_id if task.site else None)
    return [f"domain:{domain}"] + ([f"platform:{platform_id}"] if platform_id else [])


def clone_plan(task: Task) -> Plan:
    return Plan([
        step("prepare", prepare, label="Check the new domain and the target platform"),
        step("copy", copy, copy_undo, label="Copy the site directory"),
        step("settings", settings, label="Write settings.php for the clone"),
        step("database", database, database_undo, label="Create and fill the clone's database"),
        step("vhost", vhost, vhost_undo, label="Write the clone's vhost"),
        step("updatedb", updatedb, label="Run database updates (drush updatedb)"),
        step("verify", verify, label="Check the clone"),
        step("record", record, record_undo, label="Record the new site"),
    ], extra_locks=_locks(task))
