"""Checking a recorded backup on demand (`manage.py backups verify`): the archive file is where
the row says, has the size and sha256 recorded when it was written, every member matches the
manifest inside it, and it holds no link a restore of its site would refuse. An archive is never
changed; its verified_at is set, and a damaged object it names is marked in the store
(provision.backup.damage), so that the next backup of the site stores that content again.

Also what every operation that backs up or restores shares about the store: where a site's
files/ may link to, and what a backup says about links it left out and damage it met."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from hosting.models import Backup, Site
from hosting.operations.common import roots
from provision.backup import verify_backup
from provision.domains import normalise_domain
from provision.errors import ProvisionError

if TYPE_CHECKING:
    from hosting.engine.steps import Context
    from provision.backup import BackupResult

CHUNK = 1 << 20


@dataclass(frozen=True)
class Verdict:
    backup: Backup
    ok: bool
    message: str


def check_backup(backup: Backup) -> Verdict:
    """Verify one backup; its verified_at is set when it is good."""
    try:
        path = roots().inside(backup.path)
        if not path.is_file():
            raise ProvisionError(f"{path} is missing.")
        size = path.stat().st_size
        if backup.size and size != backup.size:
            raise ProvisionError(f"{path} is {size} bytes; {backup.size} were written.")
        if backup.sha256:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
            if digest.hexdigest() != backup.sha256:
                raise ProvisionError(f"{path} has sha256 {digest.hexdigest()}; {backup.sha256} was recorded.")
        site_dir = _restored_into(backup)
        try:
            manifest = verify_backup(path, site_dir=site_dir, files_link_roots=files_link_roots(backup.domain))
        finally:
            _note_store(backup.domain, path)
        if manifest.get("domain") != backup.domain:
            raise ProvisionError(f"{path} is a backup of {manifest.get('domain')}, not of {backup.domain}.")
    except ProvisionError as exc:
        return Verdict(backup, False, str(exc))
    Backup.objects.filter(pk=backup.pk).update(verified_at=timezone.now())
    members = len(manifest.get("members") or [])
    return Verdict(backup, True, f"{path.name}: {size} bytes, {members} members match the manifest")


def files_link_roots(domain: str) -> list[Path]:
    """Where the site DOMAIN's files/ may link to: `<root>/<domain>` of each
    HARBORMASTER_FILES_ROOTS (decisions.md, "A site's files/ links only into its own files root")."""
    name = normalise_domain(domain)
    return [Path(root) / name for root in settings.HARBORMASTER_FILES_ROOTS]


def _restored_into(backup: Backup) -> Path | None:
    """The directory a restore of BACKUP would write (a relative files/ link is taken from
    there), or None when its site is gone."""
    from hosting.operations import resources

    site = Site.objects.filter(pk=backup.site_id).select_related("platform").first() if backup.site_id else None
    if site is None or site.status == Site.DELETED:
        return None
    try:
        return resources.site_dir(site)
    except ProvisionError:
        return None


def _note_store(domain: str, archive: Path) -> None:
    """After verify read the store: write down for the status page what it knows now."""
    from hosting import scrub

    name = normalise_domain(domain)
    if archive.parent == (scrub.backup_root() / name).resolve() and (archive.parent / "objects").is_dir():
        scrub.refresh(name, [archive.name])


def report(ctx: Context, domain: str, result: BackupResult) -> None:
    """Say what a backup left out or could not repair (the task ends `warning`), and write down
    the state of the store when the backup met damage."""
    from hosting import scrub

    for line in result.warnings:
        ctx.warning(line)
    if result.repaired or result.unrepaired:
        scrub.refresh(normalise_domain(domain), [result.path.name])
