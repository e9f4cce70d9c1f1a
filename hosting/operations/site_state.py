"""site.disable, site.enable and site.login-reset.

disable: vhost (swapped for the "site disabled" page; undo: swapped back) -> record.
enable:  vhost (the site's own vhost back; undo: disabled again) -> record.
login-reset: login (drush user:login). The one-time link is stored in
task.result["private"]["login_url"]: the panel and the API show `result["private"]` only to
the task's created_by, and it never reaches the task log."""
from __future__ import annotations

from hosting.engine.steps import Context, Plan
from hosting.models import Site, Task
from hosting.operations import resources
from hosting.operations.common import Run, flag, step
from hosting.operations.leftovers import clean_leftovers
from hosting.operations.site_common import database_of, refuse_attention, site_of
from provision import drush
from provision.errors import ProvisionError
from provision.web import WebServer


def _web(ctx: Context, site: Site) -> WebServer:
    return resources.web_server(site.platform.server, ctx.runner)


def _usable(ctx: Context, site: Site) -> None:
    if site.status in (Site.DELETED, Site.QUEUED, Site.FAILED):
        raise ProvisionError(f"{site.domain} is {site.status}; install or verify it first.")
    refuse_attention(site, ctx.task.kind)
    clean_leftovers(ctx, site)


# -- disable -------------------------------------------------------------------------------

def disable_vhost(ctx: Context) -> None:
    site = site_of(ctx)
    _usable(ctx, site)
    ctx.state["status_before"] = site.status
    web = _web(ctx, site)
    if web.is_disabled(site.domain):
        ctx.info(f"The vhost of {site.domain} shows the 'site disabled' page already.")
        return
    web.disable(site.domain, tls=resources.recorded_tls(site.domain))
    flag(ctx, "swapped")
    ctx.info(f"{site.domain} now answers with the 'site disabled' page (503).")


def disable_vhost_undo(ctx: Context) -> None:
    if ctx.state.pop("swapped", False):
        site = site_of(ctx)
        _web(ctx, site).enable(site.domain)
        ctx.save_state()


def enable_vhost(ctx: Context) -> None:
    site = site_of(ctx)
    _usable(ctx, site)
    ctx.state["status_before"] = site.status
    web = _web(ctx, site)
    if not web.is_disabled(site.domain):
        if not web.has_vhost(site.domain):
            raise ProvisionError(f"{site.domain} has no vhost; verify the site to write it.")
        ctx.info(f"The vhost of {site.domain} is its own already.")
        return
    web.enable(site.domain)
    flag(ctx, "swapped")
    ctx.info(f"{site.domain} is served by its own vhost again.")


def enable_vhost_undo(ctx: Context) -> None:
    if ctx.state.pop("swapped", False):
        site = site_of(ctx)
        _web(ctx, site).disable(site.domain, tls=resources.recorded_tls(site.domain))
        ctx.save_state()


def _record(status: str) -> Run:
    def run(ctx: Context) -> None:
        with ctx.recording():
            Site.set_status(ctx.task.site_id, status)
    return run


def record_undo(ctx: Context) -> None:
    if "status_before" in ctx.state:
        with ctx.recording():
            Site.set_status(ctx.task.site_id, ctx.state["status_before"])


def disable_plan(task: Task) -> Plan:
    return Plan([
        step("vhost", disable_vhost, disable_vhost_undo, label="Show the 'site disabled' page"),
        step("record", _record(Site.DISABLED), record_undo, label="Record the site as disabled"),
    ])


def enable_plan(task: Task) -> Plan:
    return Plan([
        step("vhost", enable_vhost, enable_vhost_undo, label="Put the site's own vhost back"),
        step("record", _record(Site.ENABLED), record_undo, label="Record the site as enabled"),
    ])


# -- login-reset ---------------------------------------------------------------------------

def login(ctx: Context) -> None:
    site = site_of(ctx)
    _usable(ctx, site)
    # drush reads settings.php itself: it must name the database the record owns first.
    database_of(ctx, site, resources.site_dir(site))
    platform = site.platform
    url = drush.user_login(ctx.runner, resources.platform_root(platform), resources.docroot(platform), site.domain)
    # Redacted from anything this task logs from now on, and kept where only its creator sees it.
    ctx.runner.add_secret(url)
    ctx.set_flag("private", {"login_url": url})
    ctx.info("A one-time login link was made; it is shown only to who asked for it.")


def login_plan(task: Task) -> Plan:
    return Plan([step("login", login, label="Make a one-time login link (drush user:login)")])
