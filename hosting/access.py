"""The one scoping mechanism: what a user may see and do. Every view, API endpoint and command
that acts for a user goes through these functions; nothing else filters by client.

Admins (staff) see everything. Members of a client see that client's sites, backups, tasks and
audit events, and the platforms and servers those sites use; nothing of another client."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404

from hosting.models import (
    AuditEvent,
    Backup,
    Client,
    Membership,
    Platform,
    Server,
    Site,
    Task,
    TaskLog,
)


def is_admin(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_staff or user.is_superuser))


def _memberships(user) -> dict[int, str]:
    """{client id: role} of USER, read once per user object. A page asks several times (every
    scoped queryset below); the user object of a request lives as long as the request."""
    if not (user and user.is_authenticated):
        return {}
    memo = user.__dict__.get("_hm_memberships")
    if memo is None:
        memo = dict(Membership.objects.filter(user=user).values_list("client_id", "role"))
        user.__dict__["_hm_memberships"] = memo
    return memo


def client_ids(user, roles: tuple[str, ...] | None = None) -> list[int]:
    return [client for client, role in _memberships(user).items() if roles is None or role in roles]


def clients(user) -> QuerySet[Client]:
    if is_admin(user):
        return Client.objects.all()
    return Client.objects.filter(pk__in=client_ids(user))


def sites(user) -> QuerySet[Site]:
    qs = Site.objects.exclude(status=Site.DELETED)
    if is_admin(user):
        return qs
    return qs.filter(client_id__in=client_ids(user))


def platforms(user) -> QuerySet[Platform]:
    qs = Platform.objects.exclude(status=Platform.DELETED)
    if is_admin(user):
        return qs
    ids = client_ids(user)
    # A member sees the platforms open to their client, and those their sites live on. Asked with
    # EXISTS, not joins: a join through every site of the platform, made unique with DISTINCT,
    # read all 10,000 sites on each of a site page's three platform queries.
    allowed = Platform.clients.through.objects.filter(platform_id=OuterRef("pk"))
    return qs.filter(~Exists(allowed) | Exists(allowed.filter(client_id__in=ids))
                     | Exists(Site.objects.filter(platform_id=OuterRef("pk"), client_id__in=ids)))


def servers(user) -> QuerySet[Server]:
    if is_admin(user):
        return Server.objects.all()
    return Server.objects.filter(platforms__in=platforms(user)).distinct()


def tasks(user) -> QuerySet[Task]:
    if is_admin(user):
        return Task.objects.all()
    return Task.objects.filter(client_id__in=client_ids(user))


def backups(user) -> QuerySet[Backup]:
    if is_admin(user):
        return Backup.objects.all()
    return Backup.objects.filter(client_id__in=client_ids(user))


def audit_events(user) -> QuerySet[AuditEvent]:
    if is_admin(user):
        return AuditEvent.objects.all()
    return AuditEvent.objects.filter(client_id__in=client_ids(user))


def _get(qs: QuerySet, pk: int):
    try:
        return qs.get(pk=pk)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        # Not found and not visible look the same: never reveal that another client's object exists.
        raise Http404("Not found") from None


def access_site(user, site_id: int) -> Site:
    return _get(sites(user).select_related("platform__server", "client"), site_id)


def access_platform(user, platform_id: int) -> Platform:
    return _get(platforms(user).select_related("server"), platform_id)


def access_server(user, server_id: int) -> Server:
    return _get(servers(user), server_id)


def access_client(user, client_id: int) -> Client:
    return _get(clients(user), client_id)


def access_backup(user, backup_id: int) -> Backup:
    return _get(backups(user).select_related("site", "client"), backup_id)


def role(user, client_id: int | None) -> str | None:
    """USER's role in the client (manager, member, viewer), or None."""
    return _memberships(user).get(client_id) if client_id is not None else None


def may_manage_members(user, client: Client) -> bool:
    return is_admin(user) or role(user, client.pk) == Membership.MANAGER


def may_create_site(user, client: Client | None) -> bool:
    """Administrators for any client (or none); a client's managers and members for theirs."""
    if is_admin(user):
        return True
    return client is not None and role(user, client.pk) in ACTING_ROLES


def access_task(user, task_id: int) -> Task:
    return _get(tasks(user).select_related("site", "platform", "server", "client", "created_by"), task_id)


def task_log(user, task: Task) -> QuerySet[TaskLog]:
    """The log lines of TASK the user may read: "detail" lines (another client's domain or
    database, named for the administrators) only for administrators."""
    lines = TaskLog.objects.filter(task=task)
    return lines if is_admin(user) else lines.exclude(level=TaskLog.DETAIL)


def require_admin(user) -> None:
    if not is_admin(user):
        raise PermissionDenied("Only administrators may do this.")


# --- Who may start work -------------------------------------------------------------------
# Reading is scoped above; starting tasks needs more than seeing: a viewer sees a client's sites
# but may not touch them. Each task type's catalogue entry says the role it needs (deleting a
# site needs the client's manager; platform and server tasks change what every client shares,
# so only administrators start them).

ACTING_ROLES = (Membership.MANAGER, Membership.MEMBER)
ROLES_FOR = {"manager": (Membership.MANAGER,), "member": ACTING_ROLES}


def may_start_kind(user, target_type: str, client_id: int | None, kind: str) -> bool:
    """May USER start KIND on a TARGET_TYPE ("site", ...) that belongs to CLIENT_ID now? The rule
    of may_queue without the object: controls ask it with the target's current client."""
    from hosting.catalogue import TYPES

    if is_admin(user):
        return True
    known = TYPES.get(f"{target_type}.{kind}")
    if known is None or target_type != "site" or client_id is None:
        return False
    return _memberships(user).get(client_id) in ROLES_FOR.get(known.role, ())


def may_queue(user, target: Site | Platform | Server, kind: str) -> bool:
    if isinstance(target, Site):
        return may_start_kind(user, "site", target.client_id, kind)
    return may_start_kind(user, "platform" if isinstance(target, Platform) else "server", None, kind)


def _for_action(target, user, kind: str):
    if not may_queue(user, target, kind):
        raise PermissionDenied("You may not start this task.")
    return target


def site_for_action(user, site_id: int, kind: str) -> Site:
    return _for_action(access_site(user, site_id), user, kind)


def platform_for_action(user, platform_id: int, kind: str) -> Platform:
    return _for_action(access_platform(user, platform_id), user, kind)


def server_for_action(user, server_id: int, kind: str) -> Server:
    return _for_action(access_server(user, server_id), user, kind)
