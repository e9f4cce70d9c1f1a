"""Site backups (DESIGN §5): one `<domain>-<UTC>.tar.zst` per backup, written under a temporary
name and renamed when complete; verified and restored in one streaming pass.

Format 2 (create_incremental, what backups are written in): `manifest.json` and `database.sql`
inside, the site's files as content-addressed objects in `objects/` beside the archives, shared
between backups (decisions.md, "Incremental backups"). Format 1, the older one, held
`database.sql`, `site/` and `manifest.json` all inside the archive. Restore and verify read both."""
from __future__ import annotations

from provision.backup.create import BackupResult, backup_name
from provision.backup.incremental import create_incremental
from provision.backup.restore import restore_backup, verify_backup

__all__ = ["BackupResult", "backup_name", "create_incremental", "restore_backup", "verify_backup"]
