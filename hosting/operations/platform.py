"""Platform task types: verify (inspect, check, discover and import sites), lock, unlock, delete."""
from __future__ import annotations

from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone

from hosting.engine.steps import Context, Plan, Step
from hosting.models import Platform, Site, Task
from hosting.operations import operation
from hosting.operations.common import roots
from provision import platform as provision_platform
from provision.errors import ProvisionError


def _platform(ctx: Context) -> Platform:
    return Platform.objects.select_related("server").get(pk=ctx.task.platform_id)


def inspect(ctx: Context) -> None:
    platform = _platform(ctx)
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
    known = set(Site.objects.exclude(status=Site.DELETED).values_list("domain", flat=True))
    imported = 0
    for site in found.sites:
        ctx.check_stop()
        if site.domain in known:
            ctx.info(f"site {site.domain}: known")
            continue
        db = site.db
        try:
            with transaction.atomic():
                record = Site.objects.create(
                    domain=site.domain, platform=platform, status=Site.ENABLED, imported=True,
                    db_name=(db.database if db else "")[:64], db_user=(db.username if db else "")[:80],
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
        Step("inspect", inspect, label="Detect docroot and Drupal version"),
        Step("check", check, label="Check paths and permissions"),
        Step("discover", discover, label="Discover and import sites"),
        Step("mark-verified", mark_verified, label="Record the result"),
    ])

