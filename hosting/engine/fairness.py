"""Concurrency caps per server and per client, and fair sharing between clients (DESIGN §4.10).

A task over a cap stays queued ("server local runs 4 tasks, its limit") and is handed over
again when a slot frees. When several clients wait for a server's slots, slots go round-robin
by client, the least recently served client first: one client's 1,000 verifies take turns with
another client's single backup instead of starving it.

Only tasks whose last delivery was used up waiting (waited_at set) compete for the turn: a task
not yet delivered has its message on the way and is served in arrival order."""
from __future__ import annotations

from collections import deque
from datetime import datetime

from django.conf import settings
from django.db.models import F, Q

from hosting.models import Client, Server, Task

_NEVER = datetime.min
# Cron runs have their own cap per server (HARBORMASTER_CRON_CONCURRENCY, below the server's),
# so a server's slots are never all taken by cron while a backup waits.
CRON = "cron"


def server_cap(server: Server) -> int:
    return server.max_running_tasks or settings.HARBORMASTER_SERVER_CONCURRENCY


def client_cap(client: Client) -> int:
    return client.max_running_tasks or settings.HARBORMASTER_CLIENT_CONCURRENCY


def running_on_server(server_id: int) -> int:
    return Task.objects.filter(server_id=server_id, state=Task.RUNNING).count()


def running_cron(server_id: int) -> int:
    return Task.objects.filter(server_id=server_id, state=Task.RUNNING, kind=CRON).count()


def running_of_client(client_id: int) -> int:
    # `client_id + 0`: SQLite, without statistics, would otherwise walk the client's index
    # (task_client_started) through the client's whole history, inside every claim's write
    # transaction (27 ms at 100,000 tasks); by state it reads only the running tasks.
    return (Task.objects.alias(client_plus_0=F("client_id") + 0)
            .filter(client_plus_0=client_id, state=Task.RUNNING).count())


def obstacle(task: Task) -> tuple[str | None, int | None, list[int]]:
    """Why TASK cannot start now, if it cannot: (reason, task waited on, tasks to hand over
    instead). Called inside the claim's transaction."""
    client = task.client
    if client is not None:
        running = running_of_client(client.pk)
        if running >= client_cap(client):
            return f"client {client.name} runs {running} tasks, its limit", None, []
    server = task.server
    if server is None:
        return None, None, []
    if task.kind == CRON:
        crons = running_cron(server.pk)
        if crons >= settings.HARBORMASTER_CRON_CONCURRENCY:
            return f"server {server.name} runs {crons} cron runs, their limit", None, []
    running = running_on_server(server.pk)
    free = server_cap(server) - running
    if free <= 0:
        return f"server {server.name} runs {running} tasks, its limit", None, []
    rivals = Task.objects.filter(server_id=server.pk, state=Task.QUEUED, waited_at__isnull=False)
    if task.client_id:
        rivals = rivals.exclude(client_id=task.client_id)
    else:
        rivals = rivals.exclude(client__isnull=True)
    if not rivals.exists():
        return None, None, []  # nobody of another client is waiting for a slot
    picks = fair_picks(server.pk, free, including=task)
    if task.pk in picks:
        return None, None, []
    first = Task.objects.select_related("client").get(pk=picks[0]) if picks else None
    if first is None:
        return None, None, []
    who = first.client.name if first.client is not None else "the system"
    wake = list(Task.objects.filter(pk__in=picks).filter(needs_delivery()).values_list("pk", flat=True))
    return f"waiting for its turn: task #{first.pk} of {who} goes first", None, wake


def needs_delivery() -> Q:
    """Queued tasks whose last delivery was used up waiting, with none sent since."""
    return Q(waited_at__isnull=False) & (Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=F("waited_at")))


def fair_picks(server_id: int, slots: int, *, including: Task | None = None) -> list[int]:
    """The ids of the queued tasks of SERVER_ID that should get its next SLOTS free slots, in
    order: round-robin by client, least recently served client first, oldest task first."""
    if slots <= 0:
        return []
    # client_id and waiting_on_id may be None (the stubs say int).
    rows: list[tuple[int, int | None, int | None]] = _without_capped_cron(server_id, list(
        Task.objects.filter(server_id=server_id, state=Task.QUEUED, waited_at__isnull=False)
        .order_by("pk").values_list("pk", "client_id", "waiting_on_id", "kind")[:5000]
    ))
    if including is not None and all(r[0] != including.pk for r in rows):
        rows.append((including.pk, including.client_id, None))
        rows.sort()
    holders = {r[2] for r in rows if r[2]}
    active = set(Task.objects.filter(pk__in=holders, state__in=Task.ACTIVE).values_list("pk", flat=True))
    groups: dict[int | None, deque[int]] = {}
    for pk, client_id, waiting_on in rows:
        # A task still blocked by a lock holder does not take a turn (the trying task itself
        # does: its locks are checked right after).
        if waiting_on in active and not (including is not None and pk == including.pk):
            continue
        groups.setdefault(client_id, deque()).append(pk)
    room = _client_room([c for c in groups if c is not None])
    served = _last_served(list(groups))
    order = sorted(groups, key=lambda c: (served.get(c) or _NEVER, groups[c][0]))
    picks: list[int] = []
    while len(picks) < slots:
        progressed = False
        for client_id in order:
            if not groups[client_id] or room.get(client_id, slots) <= 0:
                continue
            picks.append(groups[client_id].popleft())
            if client_id is not None:
                room[client_id] -= 1
            progressed = True
            if len(picks) == slots:
                break
        if not progressed:
            break
    return picks


def _without_capped_cron(server_id: int, rows: list[tuple[int, int | None, int | None, str]]
                         ) -> list[tuple[int, int | None, int | None]]:
    """ROWS without the cron runs beyond the server's free cron slots: they cannot start, and a
    turn given to them would keep a backup waiting."""
    room = settings.HARBORMASTER_CRON_CONCURRENCY - running_cron(server_id) \
        if any(r[3] == CRON for r in rows) else 0
    kept = []
    for pk, client_id, waiting_on, kind in rows:
        if kind == CRON:
            if room <= 0:
                continue
            room -= 1
        kept.append((pk, client_id, waiting_on))
    return kept


def _client_room(client_ids: list[int]) -> dict[int | None, int]:
    # Keyed by int | None like the groups it is looked up with; the system's tasks have no cap.
    room: dict[int | None, int] = {}
    for client in Client.objects.filter(pk__in=client_ids):
        room[client.pk] = client_cap(client) - running_of_client(client.pk)
    return room


def _last_served(client_ids: list[int | None]) -> dict[int | None, datetime | None]:
    # One indexed lookup per client (task_client_started): a GROUP BY over the whole history
    # would read every task a client ever had.
    served: dict[int | None, datetime | None] = {}
    for client_id in client_ids:
        qs = Task.objects.filter(started_at__isnull=False)
        qs = qs.filter(client__isnull=True) if client_id is None else qs.filter(client_id=client_id)
        value = qs.order_by("-started_at").values_list("started_at", flat=True).first()
        served[client_id] = value.replace(tzinfo=None) if value else None
    return served


def wake_after(task_id: int) -> int:
    """A task ended or released its locks: hand over the queued tasks that may start now (its
    lock waiters and whoever is next for the slots it freed, on every server concerned)."""
    from hosting.engine.dispatch import dispatch_ids

    task = Task.objects.filter(pk=task_id).values("server_id", "client_id").first()
    if task is None:
        return 0
    related = Q(waiting_on_id=task_id)
    if task["client_id"]:
        related |= Q(client_id=task["client_id"])
    if task["server_id"]:
        # Only tasks whose delivery was used up waiting (waited_at) can be handed over again
        # (see picks_to_deliver); with none on its server, there is nothing to look at there.
        related |= Q(server_id=task["server_id"])
    servers = set(Task.objects.filter(state=Task.QUEUED, waited_at__isnull=False).filter(related)
                  .order_by().values_list("server_id", flat=True).distinct())
    sent = 0
    for server_id in servers:
        sent += dispatch_ids(picks_to_deliver(server_id))
    return sent


def picks_to_deliver(server_id: int | None) -> list[int]:
    """The fair picks for the free slots of SERVER_ID that need a new delivery."""
    if server_id is None:
        return []
    server = Server.objects.filter(pk=server_id).first()
    if server is None:
        return []
    picks = fair_picks(server_id, server_cap(server) - running_on_server(server_id))
    if not picks:
        return []
    pending = set(Task.objects.filter(pk__in=picks).filter(needs_delivery()).values_list("pk", flat=True))
    return [pk for pk in picks if pk in pending]
