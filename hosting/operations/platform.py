"""Platform task types: verify (inspect, check, discover and import sites), lock, unlock, delete.

verify: inspect (docroot, Drupal version, install profiles) -> check (sites/ present and writable) -> discover
(sites without a live record imported, sites moved here from another platform followed, copies
on two platforms flagged: see platform_sites) -> mark-verified.
lock / unlock: record (a locked platform takes no new sites: install, clone and migrate onto it
are refused). delete: see platform_delete."""
from __future__ import annotations

from pathlib import Path

from django.utils import timezone

from hosting.engine.steps import Context, Plan
from hosting.models import Platform, Task
from hosting.operations import platform_sites
from hosting.operations.common import roots, step, target_rows
from provision import packages
from provision import platform as provision_platform
from provision.errors import ProvisionError


def _platform(ctx: Context) -> Platform:
    return target_rows(Platform, ctx.task.platform_id).select_related("server").get()


def inspect(ctx: Context) -> None:
    platform = _platform(ctx)
    if platform.status == Platform.DELETED:
        raise ProvisionError(f"Platform {platform.name} is deleted.")
    path = roots().inside(Path(platform.path))
    info = provision_platform.inspect_platform(path)
    ctx.info(f"Drupal {info.drupal_version} (major {info.major}), docroot {info.docroot}")
    ctx.info(f"Install profiles: {', '.join(sorted(info.profiles)) or 'none found'}")
    ctx.info(f"drush: {info.drush or 'not found (vendor/bin/drush or on PATH)'}")
    found = packages.scan(Path(info.docroot), info.drupal_version)
    for problem in found.problems[:20]:
        ctx.warning(f"Package list: {problem}")
    ctx.info(f"Packages: {len(found.packages)} module(s), theme(s) and profile(s) found.")
    with ctx.recording():
        Platform.objects.filter(pk=platform.pk).update(docroot=str(info.docroot), drupal_version=info.drupal_version,
                                                        profiles=sorted(info.profiles), packages=found.packages)
    ctx.state["docroot"] = str(info.docroot)


def check(ctx: Context) -> None:
    platform = _platform(ctx)
    problems = provision_platform.verify_platform(Path(platform.path), roots())
    for problem in problems:
        ctx.warning(problem)
    if any("not writable" in p for p in problems):
        raise ProvisionError("sites/ is not writable: new sites cannot be created on this platform.")
    ctx.info("sites/ exists and is writable" if not problems else f"{len(problems)} problem(s) found")


def discover(ctx: Context) -> None:
    """Import, recognise or follow every site on disk (hosting.operations.platform_sites). This is
    how a site whose record was deleted, that a lost clone left on disk, or that was moved by
    hand comes back."""
    platform_sites.discover(ctx, _platform(ctx), Path(ctx.state["docroot"]))


def mark_verified(ctx: Context) -> None:
    with ctx.recording():
        Platform.set_status(ctx.task.platform_id, Platform.ENABLED, unless=[Platform.LOCKED, Platform.DELETED])
        target_rows(Platform, ctx.task.platform_id).update(verified_at=timezone.now())


def verify_plan(task: Task) -> Plan:
    return Plan([
        step("inspect", inspect, label="Detect docroot, Drupal version and profiles"),
        step("check", check, label="Check paths and permissions"),
        step("discover", discover, label="Discover and import sites"),
        step("mark-verified", mark_verified, label="Record the result"),
    ])


# -- lock and unlock -------------------------------------------------------------------------

def _set_status(ctx: Context, wanted: str) -> None:
    platform = _platform(ctx)
    if platform.status == Platform.DELETED:
        raise ProvisionError(f"Platform {platform.name} is deleted.")
    ctx.state["status_before"] = platform.status
    if wanted == Platform.ENABLED and platform.status != Platform.LOCKED:
        ctx.info(f"Platform {platform.name} is not locked.")
        return
    if wanted == Platform.ENABLED and not platform.verified_at:
        wanted = Platform.QUEUED  # unlocked, but still waiting for its first verify
    with ctx.recording():
        Platform.set_status(platform.pk, wanted)
    ctx.info(f"Platform {platform.name}: {platform.status} -> {wanted}."
             + (" No new sites can be created on it." if wanted == Platform.LOCKED else ""))


def _status_undo(ctx: Context) -> None:
    if "status_before" in ctx.state:
        with ctx.recording():
            Platform.set_status(ctx.task.platform_id, ctx.state["status_before"])


def lock_plan(task: Task) -> Plan:
    return Plan([step("record", lambda ctx: _set_status(ctx, Platform.LOCKED), _status_undo,
                      label="Lock the platform")])


def unlock_plan(task: Task) -> Plan:
    return Plan([step("record", lambda ctx: _set_status(ctx, Platform.ENABLED), _status_undo,
                      label="Unlock the platform")])


from hosting.operations import platform_delete  # noqa: E402,F401  (registers platform.delete)
