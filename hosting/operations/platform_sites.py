"""The discover step of platform.verify: what the sites found in the platform's sites/ mean for
the records.

- No live record: the site is imported. Its database is taken into the record only under
  ownership.take's rule (not another live site's, not Harbormaster's own, an SQLite file inside
  the site, a database of this platform's server that Harbormaster recorded for the site before
  or that an administrator confirmed: {"adopt_databases": true} from an operator); a
  settings.php that cannot be read (a link, not a regular file, too big, no literal $databases)
  or names a database the site cannot own (yet) makes an import that needs attention, with the
  reason, and no verify is queued for it.
- Recorded on this platform: known.
- Recorded on another platform of the same server that no longer holds it (moved by hand, or by
  a job interrupted outside Harbormaster): the record follows the site (audited) and a site
  verify is queued. When both platforms hold it, the site needs attention, and an administrator
  says which copy is the site (hosting.actions.resolve_duplicate).
- Recorded on another server's platform: reported only; that host's disk cannot be seen here.
"""
from __future__ import annotations

from pathlib import Path

from django.db import IntegrityError

from hosting import audit
from hosting.engine.loglimits import replace_surrogates
from hosting.engine.steps import Context
from hosting.models import Lock, Platform, Site
from hosting.operations import ownership, resources
from provision import platform as provision_platform
from provision.errors import ProvisionError

ACTOR = "platform verify"


def shown(name: str) -> str:
    """A directory name as a log line can hold it: bytes that are not UTF-8 (kept by Python as
    lone surrogates) become U+FFFD, control characters are escaped."""
    text = replace_surrogates(name)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)[:300]


def discover(ctx: Context, platform: Platform, docroot: Path) -> None:
    """List the sites on disk; import, recognise or follow each one."""
    found = provision_platform.scan_sites(docroot)
    live = dict(Site.objects.exclude(status=Site.DELETED).values_list("domain", "platform_id"))
    imported = 0
    for site in found.sites:
        ctx.check_stop()
        if site.domain not in live:
            imported += import_site(ctx, platform, site)
        elif live[site.domain] == platform.pk:
            ctx.info(f"site {site.domain}: known")
        else:
            record = Site.objects.exclude(status=Site.DELETED).select_related("platform__server").filter(
                domain=site.domain).first()
            if record is not None:
                recorded_elsewhere(ctx, platform, record)
    for skipped in found.skipped:
        ctx.info(f"skipped sites/{shown(skipped.name)}: {shown(skipped.reason)}")
    ctx.info(f"{len(found.sites)} site(s) on disk, {imported} imported")
    ctx.state["sites_found"] = len(found.sites)
    ctx.state["sites_imported"] = imported


def import_site(ctx: Context, platform: Platform, site: provision_platform.DiscoveredSite) -> int:
    from hosting.actions import queue_task

    problem, fields, named = ownership.Problem(site.note), {}, ""
    confirmed = ownership.confirmation(ctx.task, "adopt_databases")
    if site.db is None:
        problem = ownership.Problem(f"{site.note or 'settings.php has no database that can be read without PHP'}.")
    else:
        found = ownership.take(ctx, site.db, server=platform.server, directory=site.site_dir, domain=site.domain,
                               confirmed=confirmed)
        problem, fields, named = found.problem, found.fields, found.named
    try:
        with ctx.recording():
            record = Site.objects.create(domain=site.domain, platform=platform, status=Site.ENABLED, imported=True,
                                         client=None, attention=problem.text, attention_detail=problem.detail,
                                         attention_database=named, **fields)
            if confirmed and fields.get("db_name"):
                audit.record(ACTOR, "site.database_adopted", record, after={"db_name": fields["db_name"]},
                             detail=f"Confirmed by whoever started task #{ctx.task.pk} (adopt_databases).")
            if not problem:
                queue_task(record, "verify", by=ACTOR, args={"imported_by": ctx.task.pk})
    except IntegrityError:
        ctx.warning(f"site {site.domain}: a record was created meanwhile; not imported again")
        return 0
    if problem:
        # A platform's tasks are the administrators': the full reason.
        ctx.warning(f"site {site.domain}: imported as needing attention, without a database: {problem.full}")
    else:
        ctx.info(f"site {site.domain}: imported from disk, verify queued")
    return 1


def _holds(platform: Platform, site: Site) -> bool:
    if platform.status == Platform.DELETED:
        return False
    try:
        return resources.site_dir(site, platform).is_dir()
    except ProvisionError:
        return False  # a platform whose path left the roots holds nothing we may touch


def recorded_elsewhere(ctx: Context, platform: Platform, record: Site) -> None:
    recorded = record.platform
    domain = record.domain
    if recorded.server_id != platform.server_id:
        ctx.warning(f"site {domain}: on disk here too, but recorded on platform {recorded.name} of another "
                    "server; not imported (a left-over copy?)")
        return
    if _holds(recorded, record):
        if record.attention_platform_id != platform.pk:
            # The site's client reads no platform names: a platform may be open to other clients only.
            reason = ("Another platform holds a copy of this site too: an administrator says which copy is the "
                      "site; the other is set aside.")
            detail = (f"Platforms {recorded.name} and {platform.name} both hold sites/{domain}: say which copy "
                      "is the site; the other is set aside.")
            with ctx.recording():
                Site.objects.filter(pk=record.pk).update(attention=reason, attention_detail=detail,
                                                         attention_platform=platform)
                audit.record(ACTOR, "site.duplicate_found", record, before={"platform": recorded.name},
                             after={"also_on": platform.name}, detail=f"Found by task #{ctx.task.pk}.")
        ctx.warning(f"site {domain}: on disk here too, but recorded on platform {recorded.name}, which still "
                    "holds it; marked as needing attention until an administrator says which copy is the site")
        return
    holder = Lock.objects.filter(key=f"site:{record.pk}").values_list("task_id", flat=True).first()
    if holder is not None:
        ctx.warning(f"site {domain}: recorded on platform {recorded.name}, which no longer holds it, but task "
                    f"#{holder} holds the site; the record is left as it is: verify this platform again later")
        return
    _follow(ctx, platform, record)


def _follow(ctx: Context, platform: Platform, record: Site) -> None:
    """The record moves to PLATFORM, where the site is now, and a verify is queued."""
    from hosting.actions import queue_task

    old = record.platform
    with ctx.recording():
        changes: dict[str, object] = {"platform": platform}
        if record.attention_platform_id == platform.pk:  # the duplicate is gone: only this copy is left
            changes.update(Site.attention_cleared())
        moved = Site.objects.filter(pk=record.pk, platform_id=old.pk).update(**changes)
        if not moved:
            return
        record.refresh_from_db()
        audit.record(ACTOR, "site.moved", record, before={"platform": old.name}, after={"platform": platform.name},
                     detail=f"sites/{record.domain} is no longer on platform {old.name} but on {platform.name} "
                            f"(found by task #{ctx.task.pk}): the record follows the site.")
        task = queue_task(record, "verify", by=ACTOR, args={"moved_by": ctx.task.pk})
    ctx.info(f"site {record.domain}: recorded on platform {old.name}, which no longer holds it; the record "
             f"follows the site here, verify queued (task #{task.pk})")
