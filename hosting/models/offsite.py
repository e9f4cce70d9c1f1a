"""Off-site remotes of the backup store and the copies each holds (hosting.offsite)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

from hosting.models.fields import validate_node_name

if TYPE_CHECKING:
    from provision.offsite import Remote


class BackupRemote(models.Model):
    """Where a server's backups are copied to: an rclone SFTP or S3 remote. With a CLIENT, only
    that client's backups on the server go there (a client's own storage)."""

    SFTP, S3 = "sftp", "s3"
    KINDS = [(SFTP, "SFTP"), (S3, "S3-compatible")]

    server = models.ForeignKey("hosting.Server", on_delete=models.CASCADE, related_name="backup_remotes")
    client = models.ForeignKey("hosting.Client", on_delete=models.CASCADE, null=True, blank=True,
                               related_name="backup_remotes")
    name = models.CharField(max_length=63, validators=[validate_node_name])
    kind = models.CharField(max_length=8, choices=KINDS)
    options = models.JSONField(default=dict, blank=True)
    # Fernet token of {"private_key"|"password"|"access_key_id"|"secret_access_key": ...} (hosting.sealed).
    sealed_secrets = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    replicated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["server_id", "name"]
        constraints = [models.UniqueConstraint(fields=["server", "name"], name="backupremote_server_name")]

    def __str__(self) -> str:
        return self.name

    def remote(self) -> Remote:
        """The remote as provision.offsite takes it (its secrets unsealed)."""
        from hosting.sealed import unseal
        from provision.offsite import Remote

        return Remote.make(self.name, self.kind, self.options, unseal(self.sealed_secrets))

    @property
    def where(self) -> str:
        from provision.offsite import Remote

        return Remote(self.name, self.kind, self.options, {}).where()


class BackupCopy(models.Model):
    """BACKUP's archive (and the objects it names) is on REMOTE, as of COPIED_AT."""

    backup = models.ForeignKey("hosting.Backup", on_delete=models.CASCADE, related_name="copies")
    remote = models.ForeignKey(BackupRemote, on_delete=models.CASCADE, related_name="copies")
    copied_at = models.DateTimeField(auto_now_add=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verify_error = models.CharField(max_length=1000, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["backup", "remote"], name="backupcopy_backup_remote")]
