"""platform.delete: refused while the platform has sites (recorded, or on disk without a record)
unless forced (args {"force": true}).

check -> vhosts (forced only: the vhosts of its sites removed; undo: written again) -> files
(the platform directory renamed to a hidden .<name>.deleting-<task> beside it; if that is not
possible the task fails saying why, and the record stays as it was; undo: renamed back) ->
record (status deleted, and forced sites deleted with it; undo: the old statuses) -> purge (the
hidden directory removed; a failure only warns).

A forced delete takes its sites' files with it, and marks their records deleted; their
databases are left on the database server (listed in the log) for an admin to drop or rescue."""
from __future__ import annotations

import os
from pathlib import Path

from hosting.engine.steps import Context, Plan
from hosting.models import Platform, Site, Task
from hosting.operations import resources
from hosting.operations.common import flag, step, target_rows
from hosting.operations.site_common import remove_vhost, write_vhost
from provision import platform as provision_platform
from provision import sitefiles
from provision.errors import ProvisionError


def _platform(ctx: Context) -> Platform:
    return target_rows(Platform, ctx.task.platform_id).select_related("server").get()


def _live_sites(platform: Platform) -> list[Site]:
    return list(Site.objects.filter(platform=platform).exclude(status=Site.DELETED).order_by("domain"))


def check(ctx: Context) -> None:
    platform = _platform(ctx)
    if platform.status == Platform.DELETED:
        raise ProvisionError(f"Platform {platform.name} is deleted already.")
    root = resources.platform_root(platform)  # outside the roots: refused, nothing touched
    force = bool((ctx.task.args or {}).get("force"))
    sites = _live_sites(platform)
    on_disk: list[str] = []
    if root.is_dir():
        try:
            docroot = resources.docroot(platform)
            known = {s.domain for s in Site.objects.exclude(status=Site.DELETED)}
            on_disk = [s.domain for s in provision_platform.scan_sites(docroot).sites if s.domain not in known]
        except ProvisionError:
            on_disk = []  # no sites/ directory to read: nothing on disk that a verify would import
    if (sites or on_disk) and not force:
        names = [s.domain for s in sites] + [f"{d} (on disk, no record)" for d in on_disk]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise ProvisionError(f"Platform {platform.name} has {len(names)} site(s): {shown}. Delete or migrate "
                             "them first, or force the delete (their files go with the platform).")
    for site in sites:
        if site.db_name:
            ctx.warning(f"Forced: site {site.domain} goes with the platform; its database {site.db_name} "
                        "is left on the database server.")
    ctx.state.update({
        "status_before": platform.status, "root": str(root), "exists": root.is_dir(),
        "trash": str(root.with_name(f".{root.name}.deleting-{ctx.task.pk}")),
        "sites": [[s.pk, s.status] for s in sites],
    })


def vhosts(ctx: Context) -> None:
    platform = _platform(ctx)
    web = resources.web_server(platform.server, ctx.runner)
    removed = []
    for site_id, _ in ctx.state["sites"]:
        site = Site.objects.get(pk=site_id)
        if web.has_vhost(site.domain):
            removed.append([site_id, web.is_disabled(site.domain)])
            flag(ctx, "vhosts_removed", removed)
            remove_vhost(ctx, site.domain, platform)


def vhosts_undo(ctx: Context) -> None:
    platform = _platform(ctx)
    web = resources.web_server(platform.server, ctx.runner)
    for site_id, disabled in ctx.state.pop("vhosts_removed", []):
        site = Site.objects.get(pk=site_id)
        write_vhost(ctx, site.domain, site.aliases, platform, site=site)
        if disabled:
            web.disable(site.domain, tls=resources.recorded_tls(site.domain))
    ctx.save_state()


def files(ctx: Context) -> None:
    root, trash = Path(ctx.state["root"]), Path(ctx.state["trash"])
    if not ctx.state["exists"]:
        ctx.warning(f"{root} does not exist: there are no files to remove.")
        return
    try:
        os.rename(root, trash)
    except OSError as exc:
        raise ProvisionError(f"The files of the platform at {root} cannot be removed: {exc.strerror}. "
                             "The platform record is kept; fix the permissions and delete it again.") from None
    flag(ctx, "moved")
    ctx.info(f"{root} is out of use.")


def files_undo(ctx: Context) -> None:
    root, trash = Path(ctx.state["root"]), Path(ctx.state["trash"])
    if ctx.state.pop("moved", False) and trash.exists() and not root.exists():
        os.rename(trash, root)
        ctx.info(f"{root} is back.")
    ctx.save_state()


def record(ctx: Context) -> None:
    ids = [site_id for site_id, _ in ctx.state["sites"]]
    with ctx.recording():
        Site.set_status(ids, Site.DELETED)
        Platform.set_status(ctx.task.platform_id, Platform.DELETED)
        flag(ctx, "recorded")


def record_undo(ctx: Context) -> None:
    if not ctx.state.get("recorded"):
        return
    with ctx.recording():
        for site_id, status in ctx.state["sites"]:
            Site.set_status(site_id, status)
        Platform.set_status(ctx.task.platform_id, ctx.state["status_before"])
        ctx.state.pop("recorded")
        ctx.save_state()


def purge(ctx: Context) -> None:
    trash = Path(ctx.state["trash"])
    try:
        sitefiles.remove(trash)
    except ProvisionError as exc:
        ctx.warning(f"The platform is deleted, but its files could not all be removed: {exc} Remove them by hand.")
        return
    if ctx.state["exists"]:
        ctx.info(f"{ctx.state['root']} removed.")


def delete_plan(task: Task) -> Plan:
    return Plan([
        step("check", check, label="Check that the platform has no sites"),
        step("vhosts", vhosts, vhosts_undo, label="Remove the vhosts of its sites (forced)"),
        step("files", files, files_undo, label="Take the platform's files away"),
        step("record", record, record_undo, label="Record the platform as deleted"),
        step("purge", purge, label="Remove the platform's files", reversible=False),
    ])
