"""Notifications of events (a task failed or paused, a site's backups went stale) by e-mail to
the users who chose them and by signed JSON POSTs to webhooks. Payload: docs/notifications.md.

Delivery is best effort and synchronous, from the watcher (hosting.events) that runs in a worker:
a failing mail server or receiver is logged and does not stop the other deliveries."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from hosting.models import Client, NotificationPreference, Site, Task, Webhook
from hosting.shown import Shown

SIGNATURE_HEADER = "X-Harbormaster-Signature"
EVENT_HEADER = "X-Harbormaster-Event"
_logger = logging.getLogger("hosting.notify")


@dataclass(frozen=True)
class Event:
    event: str            # task.failed | task.paused | backup.stale | cron.failing
    task: int | None      # the task id (None for backup.stale)
    type: str             # "site.backup"; "" for backup.stale
    target: str           # the domain, platform or server name
    state: str            # the task's state; "stale" for backup.stale
    summary: str
    url: str              # the task's (or site's) page in the panel
    time: str             # ISO 8601, UTC
    client: str | None    # the client's name, if the target has one

    def payload(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


def _url(path: str) -> str:
    return settings.HARBORMASTER_BASE_URL + path


def task_event(task: Task) -> Event:
    name = "task.paused" if task.state == Task.PAUSED else "task.failed"
    at = task.finished_at or timezone.now()
    # A client's task is told to its members and its webhooks: its summary as they read it in
    # the panel, without the server's paths (hosting.shown); the link shows administrators more.
    summary = Shown(internals=task.client_id is None).text(task.summary)
    return Event(name, task.pk, f"{task.target_type}.{task.kind}", task.target_label, task.state,
                 summary, _url(reverse("task-detail", args=[task.pk])), _iso(at),
                 task.client.name if task.client is not None else None)


def stale_event(site: Site, last: datetime | None, allowed: str) -> Event:
    summary = (f"The last good backup of {site.domain} is from {last:%Y-%m-%d %H:%M} UTC; "
               f"its schedule allows {allowed}."
               if last else f"{site.domain} has no backup; its schedule allows {allowed}.")
    return Event("backup.stale", None, "", site.domain, "stale", summary,
                 _url(reverse("site-detail", args=[site.pk])), _iso(timezone.now()),
                 site.client.name if site.client is not None else None)


def cron_event(site: Site, failures: int, summary: str) -> Event:
    return Event("cron.failing", None, "site.cron", site.domain, "failed",
                 f"The cron of {site.domain} failed {failures} times in a row. Last: {summary}",
                 _url(reverse("site-detail", args=[site.pk])), _iso(timezone.now()),
                 site.client.name if site.client is not None else None)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def recipients(event: Event) -> list[str]:
    """E-mail addresses of active users who chose EVENT and may see its client's objects.
    Users without preferences: administrators get everything, others nothing."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    client = Client.objects.filter(name=event.client).first() if event.client else None
    may_see = Q(is_superuser=True) | (Q(memberships__client=client) if client else Q(pk__in=[]))
    found = []
    prefs = dict(NotificationPreference.objects.values_list("user_id", "events"))
    for user in users.filter(may_see).distinct().order_by("pk"):
        chosen = prefs.get(user.pk)
        if chosen is None:
            chosen = list(_all_events()) if user.is_superuser else []
        if event.event in chosen:
            found.append(user.email)
    return found


def _all_events() -> list[str]:
    from hosting.models.ops import EVENT_NAMES

    return EVENT_NAMES


def send_email(event: Event) -> int:
    to = recipients(event)
    if not to:
        return 0
    subject = f"{settings.EMAIL_SUBJECT_PREFIX}{event.event}: {event.type or 'backups'} {event.target}"
    body = f"{event.summary or event.state}\n\n{event.url}\n\nTime: {event.time}\n"
    try:
        return send_mail(subject.strip(), body, None, to)
    except Exception:  # noqa: BLE001 - see the module docstring
        _logger.exception("could not e-mail %s about %s", ", ".join(to), event.event)
        return 0


def webhooks_for(event: Event) -> list[Webhook]:
    hooks = Webhook.objects.filter(active=True)
    hooks = hooks.filter(Q(client__isnull=True) | Q(client__name=event.client)) if event.client else \
        hooks.filter(client__isnull=True)
    return [h for h in hooks if event.event in (h.events or [])]


def post_webhook(hook: Webhook, event: Event) -> bool:
    body = event.payload()
    request = urllib.request.Request(hook.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "Harbormaster", EVENT_HEADER: event.event,
        SIGNATURE_HEADER: sign(hook.secret, body),
    })
    try:
        with urllib.request.urlopen(request, timeout=settings.HARBORMASTER_WEBHOOK_TIMEOUT) as response:
            return 200 <= response.status < 300
    except Exception as exc:  # noqa: BLE001 - see the module docstring
        _logger.warning("webhook %s (%s) refused %s: %s", hook.name, hook.pk, event.event, exc)
        return False


def notify(event: Event) -> dict[str, int]:
    """E-mail and POST EVENT to whoever subscribed; returns counts for the caller's log."""
    mailed = send_email(event)
    posted = sum(post_webhook(h, event) for h in webhooks_for(event))
    return {"emails": mailed, "webhooks": posted}
