"""Site backups (DESIGN §5): one `<domain>-<UTC>.tar.zst` per backup holding `database.sql`,
`site/` and `manifest.json` (sizes and sha256 of every member), written under a temporary name
and renamed when complete; verified and restored in one streaming pass."""
from __future__ import annotations

from provision.backup.create import BackupResult, backup_name, create_backup
from provision.backup.restore import restore_backup, verify_backup

__all__ = ["BackupResult", "backup_name", "create_backup", "restore_backup", "verify_backup"]
