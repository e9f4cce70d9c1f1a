"""The scrub of the backup stores (decisions.md, "The scrub of the backup stores"): housekeeping
that django-q2's scheduler runs every 10 minutes on HARBORMASTER_SCHEDULER_QUEUE's cluster, like
retention. Each run re-reads at most HARBORMASTER_SCRUB_BYTES of the stores under
HARBORMASTER_BACKUP_DIR (provision.backup.scrub), going on where the last run stopped, and each
store is read whole once per HARBORMASTER_SCRUB_DAYS. What a whole pass finds is kept in the
store's StoreCheck row, which the status page and `ping` read (hosting.health.backup_stores).

Not a task: it changes no site and takes no site lock (readers of the store take none), and
10,000 sites would put 10,000 rows a week into the task history. `manage.py backups scrub` runs
a pass at once."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from hosting.models import StoreCheck
from provision.backup import scrub
from provision.backup.store import OBJECTS
from provision.errors import ProvisionError

_logger = logging.getLogger("hosting.scrub")
HOLD = timedelta(minutes=30)  # a run's claim on a store; a run killed mid-way loses it after this
SHOWN = 20  # archive names kept per store


def backup_root() -> Path:
    return Path(settings.HARBORMASTER_BACKUP_DIR)


def stores_on_disk() -> set[str]:
    """The names of the directories under the backup directory that hold an object store."""
    root = backup_root()
    try:
        with os.scandir(root) as listing:
            return {entry.name for entry in listing
                    if entry.is_dir(follow_symlinks=False) and os.path.isdir(os.path.join(entry.path, OBJECTS))}
    except FileNotFoundError:
        return set()


def sync_rows() -> None:
    """A row for every store on disk; rows of stores gone from disk are removed."""
    found = stores_on_disk()
    known = set(StoreCheck.objects.values_list("domain", flat=True))
    StoreCheck.objects.bulk_create([StoreCheck(domain=name) for name in sorted(found - known)], ignore_conflicts=True)
    gone = known - found
    if gone:
        StoreCheck.objects.filter(domain__in=gone).delete()


def _claim(row: StoreCheck) -> bool:
    now = timezone.now()
    return bool(StoreCheck.objects.filter(pk=row.pk).filter(Q(busy_until__isnull=True) | Q(busy_until__lt=now))
                .update(busy_until=now + HOLD))


def _due() -> list[StoreCheck]:
    """Stores whose pass is unfinished, then those never scrubbed or scrubbed longest ago."""
    now = timezone.now()
    free = Q(busy_until__isnull=True) | Q(busy_until__lt=now)
    due = Q(scrubbed_at__isnull=True) | Q(scrubbed_at__lt=now - timedelta(days=settings.HARBORMASTER_SCRUB_DAYS))
    rows = StoreCheck.objects.filter(free).filter(~Q(cursor="") | due)
    return list(rows.order_by(F("pass_started_at").asc(nulls_last=True), F("scrubbed_at").asc(nulls_first=True))[:50])


def run_scheduled(budget: int | None = None) -> int:
    """One run of the schedule: scrub what is due, up to BUDGET bytes (HARBORMASTER_SCRUB_BYTES).
    Returns the bytes read."""
    left = budget if budget is not None else settings.HARBORMASTER_SCRUB_BYTES
    sync_rows()
    read = 0
    for row in _due():
        if left <= 0:
            break
        if not _claim(row):
            continue  # another run has it
        done = scrub_store(row, left)
        read += done
        left -= max(done, 1)
    return read


def scrub_store(row: StoreCheck, budget: int) -> int:
    """Go on with ROW's pass for up to BUDGET bytes (its claim held); returns the bytes read."""
    directory = backup_root() / row.domain
    try:
        progress = scrub.scrub(directory, budget, cursor=row.cursor)
    except (OSError, ProvisionError) as exc:
        _logger.warning("scrub of the backup store of %s failed: %s", row.domain, exc)
        StoreCheck.objects.filter(pk=row.pk).update(busy_until=None, detail=f"The scrub failed: {exc}"[:1000])
        return 0
    if progress.damaged:
        _logger.warning("scrub found %d damaged objects in the backup store of %s", len(progress.damaged), row.domain)
    if progress.done:
        finish_pass(row.domain)
    else:
        StoreCheck.objects.filter(pk=row.pk).update(cursor=progress.cursor, busy_until=None,
                                                    pass_started_at=row.pass_started_at or timezone.now())
    return progress.bytes


def finish_pass(domain: str) -> StoreCheck:
    """End a whole pass: every archive's manifest is read against what the store holds."""
    row = refresh(domain, archives=None)
    StoreCheck.objects.filter(pk=row.pk).update(cursor="", pass_started_at=None, busy_until=None,
                                                scrubbed_at=timezone.now())
    row.refresh_from_db()
    return row


def refresh(domain: str, archives: Iterable[str] | None = ()) -> StoreCheck:
    """Write down what the store of DOMAIN's damage means now. ARCHIVES: the archive file names
    to read (None: all of them); those the row listed as damaged are always read again."""
    row, _ = StoreCheck.objects.get_or_create(domain=domain)
    if archives is not None:
        archives = {*archives, *(row.damaged_archives or [])}
    found = scrub.assess(backup_root() / domain, archives)
    row.object_count = found.objects
    row.stored_bytes = found.stored_bytes
    row.unusable = len(found.unusable)
    row.damaged_indexes = len(found.damaged_indexes)
    row.damaged_archives = found.damaged_archives[:SHOWN]
    row.detail = describe(found)
    row.save()
    return row


def describe(found: scrub.Assessment) -> str:
    if not (found.unusable or found.damaged_indexes or found.damaged_archives):
        return f"{found.objects} objects, {found.stored_bytes} bytes, no known damage"
    words = []
    if found.unusable:
        words.append(f"{len(found.unusable)} object(s) without a good copy")
    if found.damaged_indexes:
        words.append(f"{len(found.damaged_indexes)} pack index(es) unreadable (the next backup writes them again)")
    if found.damaged_archives:
        more = " ..." if len(found.damaged_archives) > SHOWN else ""
        words.append(f"backups that cannot be restored whole: {', '.join(found.damaged_archives[:SHOWN])}{more}")
    return "; ".join(words)


def damaged_stores() -> list[StoreCheck]:
    return list(StoreCheck.objects.filter(Q(unusable__gt=0) | Q(damaged_indexes__gt=0) | ~Q(damaged_archives=[]))
                .order_by("domain"))
