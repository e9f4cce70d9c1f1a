"""Platform task types: verify (inspect, check, discover and import sites), lock, unlock, delete.

verify: inspect (docroot, Drupal version) -> check (sites/ present and writable) -> discover
(every sites/<domain>/settings.php without a live record is imported as a Site, marked
imported, and a site verify is queued for it) -> mark-verified.
lock / unlock: record (a locked platform takes no new sites: install, clone and migrate onto it
are refused). delete: see platform_delete."""
from __future__ import annotations

from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone

from hosting.engine.steps import Context, Plan
from hosting.models import Platform, Site, Task
from hosting.operations import operation
from hosting.operations.common import roots, step
from provision import platform as provision_platform
from provision.errors import ProvisionError


def _platform(ctx: Context) -> Platform:
    return Platform.objects.select_related("server").get(pk=ctx.task.platform_id)


def inspect(ctx: Context) -> None:
    platform = _platform(ctx)
    if platform.status == Platform.DELETED:
        raise ProvisionError(f"Platform {platform.name} is deleted.")
    path = roots().inside(Path(platform.path))
    info = provision_platform.inspect_platform(path)
    ctx.info(f"Drupal {info.drupal_version} (major {info.major}), docroot {info.docroot}")
    ctx.info(f"drush: {info.drush or 'not found (vendor/bin/drush or on PATH)'}")
    Platform.objects.filter(pk=platform.pk).update(docroot=str(info.docroot), drupal_version=info.drupal_version)
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
    """List the sites on disk; import each one that has no live record, and queue its verify.
    This is how a site whose record was deleted, or that a lost clone left on disk, comes back."""
    from hosting.actions import queue_task

    platform = _platform(ctx)
    found = provision_platform.scan_sites(Path(ctx.state["docroot"]))
    known = dict(Site.objects.exclude(status=Site.DELETED).values_list("domain", "platform__name"))
    imported = 0
    for site in found.sites:
        ctx.check_stop()
        if site.domain in known:
            if known[site.domain] == platform.name:
                ctx.info(f"site {site.domain}: known")
            else:
                ctx.warning(f"site {site.domain}: on disk here too, but recorded on platform "
                            f"{known[site.domain]}; not imported (a left-over copy?)")
            continue
        db = site.db
        # An SQLite database is a path: its file name is what tells sites apart.
        db_name = (Path(db.database).name if db and db.driver == "sqlite" else db.database if db else "")
        try:
            with transaction.atomic():
                record = Site.objects.create(
                    domain=site.domain, platform=platform, status=Site.ENABLED, imported=True,
                    db_name=db_name[:64], db_user=(db.username if db else "")[:80],
                    client=None,
                )
                queue_task(record, "verify", by="platform verify", args={"imported_by": ctx.task.pk})
        except IntegrityError:
            ctx.warning(f"site {site.domain}: a record was created meanwhile; not imported again")
            continue
        imported += 1
        ctx.info(f"site {site.domain}: imported from disk, verify queued")
    for skipped in found.skipped:
        ctx.info(f"skipped sites/{skipped.name}: {skipped.reason}")
    ctx.info(f"{len(found.sites)} site(s) on disk, {imported} imported")
    ctx.state["sites_found"] = len(found.sites)
    ctx.state["sites_imported"] = imported


def mark_verified(ctx: Context) -> None:
    Platform.objects.filter(pk=ctx.task.platform_id).exclude(status__in=[Platform.LOCKED, Platform.DELETED]).update(
        status=Platform.ENABLED)
    Platform.objects.filter(pk=ctx.task.platform_id).update(verified_at=timezone.now())


@operation("platform.verify")
def verify_plan(task: Task) -> Plan:
    return Plan([
        step("inspect", inspect, label="Detect docroot and Drupal version"),
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
    Platform.objects.filter(pk=platform.pk).update(status=wanted)
    ctx.info(f"Platform {platform.name}: {platform.status} -> {wanted}."
             + (" No new sites can be created on it." if wanted == Platform.LOCKED else ""))


def _status_undo(ctx: Context) -> None:
    if "status_before" in ctx.state:
        Platform.objects.filter(pk=ctx.task.platform_id).update(status=ctx.state["status_before"])


@operation("platform.lock")
def lock_plan(task: Task) -> Plan:
    return Plan([step("record", lambda ctx: _set_status(ctx, Platform.LOCKED), _status_undo,
                      label="Lock the platform")])


@operation("platform.unlock")
def unlock_plan(task: Task) -> Plan:
    return Plan([step("record", lambda ctx: _set_status(ctx, Platform.ENABLED), _status_undo,
                      label="Unlock the platform")])


from hosting.operations import platform_delete  # noqa: E402,F401  (registers platform.delete)
