from hosting.models.api import ApiToken
from hosting.models.audit import AuditEvent
from hosting.models.nodes import Backup, Client, Membership, Platform, Server, Site
from hosting.models.tasks import Lock, Task, TaskLog, TaskStep

__all__ = [
    "ApiToken", "AuditEvent", "Backup", "Client", "Lock", "Membership", "Platform", "Server", "Site",
    "Task", "TaskLog", "TaskStep",
]
