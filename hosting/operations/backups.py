"""Checking a recorded backup on demand (`manage.py backups verify`): the archive file is where
the row says, has the size and sha256 recorded when it was written, and every member matches
the manifest inside it. Read-only: an archive is never changed, only its verified_at is set."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.utils import timezone

from hosting.models import Backup
from hosting.operations.common import roots
from provision.backup import verify_backup
from provision.errors import ProvisionError

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
        manifest = verify_backup(path)
        if manifest.get("domain") != backup.domain:
            raise ProvisionError(f"{path} is a backup of {manifest.get('domain')}, not of {backup.domain}.")
    except ProvisionError as exc:
        return Verdict(backup, False, str(exc))
    Backup.objects.filter(pk=backup.pk).update(verified_at=timezone.now())
    members = len(manifest.get("members") or [])
    return Verdict(backup, True, f"{path.name}: {size} bytes, {members} members match the manifest")
