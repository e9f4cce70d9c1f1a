"""Which task buttons a node's page shows, and why one cannot run now.

A task that would only wait or fail later (a conflicting task on the same target, a locked
platform, a site that is not installed yet) is refused before it is queued, with the reason in
words: the page shows it on a disabled button, and the view that queues says the same when the
button was pressed from a stale page. The engine's locks remain the real guard; this is advice
that saves the user a failed task."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import F

from hosting import access
from hosting.inventory import platform_refusal
from hosting.models import Platform, Server, Site, Task
from hosting.tasktypes import TYPES, kinds_for

# Types that need arguments: their button opens a form.
ARGUMENTS = {"site.clone", "site.migrate", "site.restore"}
# Types that destroy or interrupt something: their button opens a confirmation page.
CONFIRM = {"site.delete", "site.restore", "site.disable", "site.migrate", "platform.delete", "platform.lock"}
DANGER = {"site.delete", "platform.delete"}


@dataclass(frozen=True)
class Button:
    target: str   # site | platform | server
    kind: str
    label: str
    reason: str = ""  # why it cannot run now; empty when it can

    @property
    def key(self) -> str:
        return f"{self.target}.{self.kind}"

    @property
    def page(self) -> bool:
        """Opens a page (arguments or confirmation) instead of queuing at once."""
        return self.key in ARGUMENTS or self.key in CONFIRM

    @property
    def danger(self) -> bool:
        return self.key in DANGER


def active_task(user, target: Site | Platform | Server) -> Task | None:
    """The oldest unfinished task on TARGET itself (one query). The target is compared as
    `<field>_id + 0` so that the database takes the (state, created_at) index (unfinished tasks
    are few) rather than reading every task a platform's sites ever had (10 ms at 200,000)."""
    field = {Site: "site", Platform: "platform", Server: "server"}[type(target)]
    return (access.tasks(user).annotate(target_pk=F(f"{field}_id") + 0)
            .filter(target_pk=target.pk, target_type=field, state__in=Task.ACTIVE)
            .order_by("created_at", "id").first())


def conflict(task: Task | None, noun: str) -> str:
    if task is None:
        return ""
    label = TYPES.get(f"{task.target_type}.{task.kind}")
    name = label.label if label else task.kind
    if task.state == Task.PAUSED:
        return f"{name} #{task.pk} is paused on this {noun}: resume, skip or abort it first."
    return f"{name} #{task.pk} is {task.state} on this {noun}; wait for it to finish."


def new_site_platforms(user, client, exclude: Platform | None = None):
    """Platforms USER can see on which CLIENT may get a new site (clone, migrate): the same rule
    as inventory.platform_refusal, as one query."""
    from django.db.models import Q

    qs = access.platforms(user).filter(status=Platform.ENABLED)
    qs = qs.filter(Q(clients__isnull=True) | Q(clients=client)) if client else qs.filter(clients__isnull=True)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.order_by("name").distinct()


_NOT_INSTALLED_OK = {"install", "delete"}
_FAILED_OK = {"install", "verify", "delete"}


def site_refusal(site: Site, kind: str, *, active: Task | None, backups: int, clone_targets: int,
                 migrate_targets: int) -> str:
    if site.status == Site.DELETED:
        return "The site's record is deleted."
    if active is not None:
        return conflict(active, "site")
    if site.attention_refusal(kind):
        return site.attention_refusal(kind)
    if site.status == Site.QUEUED and kind not in _NOT_INSTALLED_OK:
        return "The site is not installed yet."
    if site.status == Site.FAILED and kind not in _FAILED_OK:
        return "The site's install failed: install it again, verify it or delete it."
    if kind == "install":
        if site.status in (Site.ENABLED, Site.DISABLED):
            return "The site is installed already."
        return platform_refusal(site.platform, site.client) or ""
    if kind == "enable" and site.status == Site.ENABLED:
        return "The site is enabled already."
    if kind == "disable" and site.status == Site.DISABLED:
        return "The site is disabled already."
    if kind == "login-reset" and site.status == Site.DISABLED:
        return "The site is disabled: enable it first."
    if kind == "restore" and not backups:
        return "There is no backup of this site yet."
    if kind == "clone" and not clone_targets:
        return "No platform is open for new sites of this client."
    if kind == "migrate" and not migrate_targets:
        return "No other platform is open for new sites of this client."
    return ""


def platform_refusal_for(platform: Platform, kind: str, *, active: Task | None, live_sites: int) -> str:
    if platform.status == Platform.DELETED:
        return "The platform's record is deleted."
    if active is not None:
        return conflict(active, "platform")
    if kind == "lock" and platform.status == Platform.LOCKED:
        return "The platform is locked already."
    if kind == "unlock" and platform.status != Platform.LOCKED:
        return "The platform is not locked."
    if kind == "delete" and live_sites:
        return f"{live_sites} site(s) live on this platform: migrate or delete them first."
    return ""


def server_refusal(server: Server, kind: str, *, active: Task | None) -> str:
    return conflict(active, "server")


def buttons(user, target: Site | Platform | Server, refuse: Callable[[str], str]) -> list[Button]:
    """A button for every task type of TARGET that USER may start; REFUSE(kind) gives the reason
    one cannot run now. Types the user may never start are left out rather than disabled."""
    target_type = {Site: "site", Platform: "platform", Server: "server"}[type(target)]
    return [
        Button(target_type, kind, TYPES[f"{target_type}.{kind}"].label, refuse(kind))
        for kind in kinds_for(target_type)
        if access.may_queue(user, target, kind)
    ]
