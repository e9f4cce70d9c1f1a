"""site.install: a new site on its platform.

prepare -> site-dir (sites/<domain>/, files dirs, settings.php with a new random database
password) -> database (database and user, the password read back from settings.php) -> vhost
-> drush (the platform's drush site:install) -> record. The password exists only in settings.php
and on the database server; the admin account's password is random and never shown (a
login-reset task gives a one-time link)."""
from __future__ import annotations

import secrets
from pathlib import Path

from django.utils import timezone

from hosting.engine.steps import Context, Plan
from hosting.models import Site, Task
from hosting.operations import ownership, resources
from hosting.operations.common import flag, step
from hosting.operations.site_common import (
    create_database,
    drop_created,
    new_password,
    refuse_attention,
    remove_vhost,
    settings_in,
    site_of,
    write_site_settings,
    write_vhost,
)
from provision import drush, sitefiles
from provision.errors import ProvisionError


def prepare(ctx: Context) -> None:
    site = site_of(ctx)
    platform = site.platform
    if site.status not in (Site.QUEUED, Site.FAILED):
        raise ProvisionError(f"{site.domain} is {site.status}: only a queued or failed site is installed.")
    refuse_attention(site, "install")
    resources.usable_platform(platform, for_new_site=True)
    directory = resources.site_dir(site)
    if directory.exists() or directory.is_symlink():
        raise ProvisionError(f"{directory} exists already: a site of that name is on disk (a platform "
                             "verify imports it); nothing was changed.")
    web = resources.web_server(platform.server, ctx.runner)
    if web.has_vhost(site.domain):
        raise ProvisionError(f"A vhost for {site.domain} exists already ({web.vhost_path(site.domain)}); "
                             "nothing was changed.")
    driver = resources.db_driver(platform.server)
    # The name's lock is held until the install ends: nothing else records it meanwhile.
    name, user = resources.new_database_names(site.domain, driver,
                                              lambda n: not ownership.reserve(ctx, platform.server, n))
    ctx.state.update({"db_name": name, "db_user": user, "site_dir": str(directory),
                      "status_before": site.status})
    ctx.info(f"Installing {site.domain} on platform {platform.name} (Drupal {platform.drupal_version}), "
             f"database {name} on {driver.server.label}.")


def prepare_undo(ctx: Context) -> None:
    # The record says what happened: a failed install, ready for another try.
    with ctx.recording():
        Site.set_status(ctx.task.site_id, Site.FAILED, only_from=[Site.QUEUED])


def make_site_dir(ctx: Context) -> None:
    site = site_of(ctx)
    directory = Path(ctx.state["site_dir"])
    sitefiles.make_dir(directory)
    flag(ctx, "dir_made")
    driver = resources.db_driver(site.platform.server)
    db = driver.settings_for(ctx.state["db_name"], ctx.state["db_user"], new_password())
    write_site_settings(ctx, directory, domain=site.domain, aliases=site.aliases, db=db, platform=site.platform)
    sitefiles.populate_dirs(directory)
    ctx.info(f"{directory} created with settings.php and its files directories.")


def make_site_dir_undo(ctx: Context) -> None:
    if ctx.state.get("dir_made"):
        sitefiles.remove(Path(ctx.state["site_dir"]))
        ctx.state.pop("dir_made")
        ctx.save_state()


def database(ctx: Context) -> None:
    site = site_of(ctx)
    create_database(ctx, "db_made", site.platform, Path(ctx.state["site_dir"]), ctx.state["db_name"],
                    ctx.state["db_user"])


def database_undo(ctx: Context) -> None:
    drop_created(ctx, "db_made")


def vhost(ctx: Context) -> None:
    site = site_of(ctx)
    flag(ctx, "vhost_made")
    write_vhost(ctx, site.domain, site.aliases, site.platform, site=site)


def vhost_undo(ctx: Context) -> None:
    if ctx.state.get("vhost_made"):
        site = site_of(ctx)
        remove_vhost(ctx, site.domain, site.platform)
        ctx.state.pop("vhost_made")
        ctx.save_state()


def drush_install(ctx: Context) -> None:
    site = site_of(ctx)
    platform = site.platform
    directory = Path(ctx.state["site_dir"])
    # The database this task created, with the password it wrote into settings.php.
    handle = ownership.on_server(platform.server, ctx.state["db_name"], ctx.state["db_user"])
    db = handle.driver.settings_for(handle.name, ctx.state["db_user"], settings_in(ctx, directory).password)
    drush.site_install(
        ctx.runner, resources.platform_root(platform), resources.docroot(platform), domain=site.domain,
        profile=site.profile, db=db, site_name=site.domain, admin_name="admin",
        admin_password=secrets.token_urlsafe(18), admin_mail=f"admin@{site.domain}",
    )


def record(ctx: Context) -> None:
    site = site_of(ctx)
    directory = Path(ctx.state["site_dir"])
    used = sitefiles.disk_usage(directory)
    with ctx.recording():
        Site.set_status(
            site.pk, Site.ENABLED, db_name=ctx.state["db_name"], db_user=ctx.state["db_user"],
            verified_at=timezone.now(), disk_files_bytes=used)
    ctx.info(f"{site.domain} is installed and enabled.")


def record_undo(ctx: Context) -> None:
    with ctx.recording():
        Site.set_status(ctx.task.site_id, ctx.state.get("status_before", Site.QUEUED))


def install_plan(task: Task) -> Plan:
    return Plan([
        step("prepare", prepare, prepare_undo, label="Check the platform, names and paths"),
        step("site-dir", make_site_dir, make_site_dir_undo, label="Create the site directory and settings.php"),
        step("database", database, database_undo, label="Create the database and its user"),
        step("vhost", vhost, vhost_undo, label="Write the vhost"),
        step("drush", drush_install, label="Install Drupal (drush site:install)"),
        step("record", record, record_undo, label="Record the site as enabled"),
    ])
