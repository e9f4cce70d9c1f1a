from hosting.models.api import ApiToken
from hosting.models.audit import AuditEvent
from hosting.models.batches import BatchItem, MigrationBatch
from hosting.models.certificates import Certificate
from hosting.models.clusters import Cluster
from hosting.models.cron import CronRun, DrushCommand, SiteCron
from hosting.models.integrity import StoreCheck
from hosting.models.invitations import Invitation
from hosting.models.nodes import Backup, Client, Membership, Platform, Server, Site
from hosting.models.offsite import BackupCopy, BackupRemote
from hosting.models.ops import BackupSchedule, NotificationPreference, StaleBackupAlert, TaskWatch, Webhook
from hosting.models.tasks import Lock, Task, TaskLog, TaskStep

__all__ = [
    "ApiToken", "AuditEvent", "Backup", "BackupCopy", "BackupRemote", "BackupSchedule", "BatchItem", "Certificate",
    "Client", "Cluster", "CronRun", "DrushCommand", "Invitation", "Lock", "Membership", "MigrationBatch",
    "NotificationPreference", "Platform", "Server", "Site", "SiteCron", "StaleBackupAlert", "StoreCheck", "Task",
    "TaskLog", "TaskStep", "TaskWatch", "Webhook",
]
