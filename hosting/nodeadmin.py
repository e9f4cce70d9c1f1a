"""Recording and changing servers and clients, and which clients may use a platform: what the
panel's forms, the API and the command line call once hosting.nodeforms has validated the input.
Administrators (and operators) only: callers check with access.require_admin.

A server's record is the truth its verify applies (vhost directory, web server, database
server): a new server, and every change of one, queues its verify through
hosting.starting.start_task in the same transaction (a change made while a verify waits to start
is applied by that one). When the verify cannot start (another task runs on the server), nothing
is written and the caller says why."""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.forms import ModelForm

from hosting import audit
from hosting.actor import Actor
from hosting.models import Client, Platform, Server, Task
from hosting.nodeforms import CLIENT_FIELDS, SERVER_FIELDS, changed
from hosting.starting import start_task

SECRET_FIELDS = ("db_admin_password",)


def _shown(fields: dict[str, tuple[Any, Any]], side: int) -> dict[str, Any]:
    return {k: ("[changed]" if k in SECRET_FIELDS else v[side]) for k, v in fields.items()}


def create_server(form: ModelForm, *, by: Actor, address: str | None = None) -> tuple[Server, Task]:
    """Save the new server of the valid FORM and queue its verify."""
    with transaction.atomic():
        server = form.save()
        audit.record(by, "server.added", server, address=address,
                     after={"name": server.name, "queue": server.queue, "http": server.http,
                            "db_engine": server.db_engine})
        task = start_task(by, server, "verify", {}, address=address)
    return server, task


def edit_server(form: ModelForm, *, by: Actor, address: str | None = None) -> tuple[Server, Task | None]:
    """Save the changes of the valid FORM (bound to a server) and queue the verify that applies
    them; nothing changed: nothing saved, no task."""
    server = form.instance
    stored = Server.objects.get(pk=server.pk)
    before = {name: getattr(stored, name) for name in SERVER_FIELDS}
    diff = changed(form, before)
    if not diff:
        return server, None
    with transaction.atomic():
        # A verify that has not started yet applies the change when it runs (it reads the record
        # then): no second one, and no refusal, so that a new server whose workers are not up yet
        # can still be corrected. Its row is held until commit: a worker's claim waits for it.
        waiting = (Task.objects.select_for_update().filter(server=server, target_type="server", kind="verify",
                                                           state=Task.QUEUED).order_by("pk").first())
        server = form.save()
        audit.record(by, "server.changed", server, address=address, before=_shown(diff, 0), after=_shown(diff, 1))
        task = waiting or start_task(by, server, "verify", {}, address=address)
    return server, task


def create_client(form: ModelForm, *, by: Actor, address: str | None = None) -> Client:
    with transaction.atomic():
        client = form.save()
        audit.record(by, "client.added", client, address=address,
                     after={f: getattr(client, f) for f in CLIENT_FIELDS})
    return client


def edit_client(form: ModelForm, *, by: Actor, address: str | None = None) -> Client:
    client = form.instance
    stored = Client.objects.get(pk=client.pk)
    before = {name: getattr(stored, name) for name in CLIENT_FIELDS}
    diff = changed(form, before)
    if diff:
        with transaction.atomic():
            client = form.save()
            audit.record(by, "client.changed", client, address=address, before=_shown(diff, 0),
                         after=_shown(diff, 1))
    return client


def set_platform_clients(platform: Platform, clients: list[Client], *, by: Actor,
                         address: str | None = None) -> bool:
    """Open PLATFORM to CLIENTS only (none: to every client). Returns whether anything changed.
    Sites already on the platform stay: this says who may create new ones."""
    before = sorted(platform.clients.values_list("name", flat=True))
    after = sorted(c.name for c in clients)
    if before == after:
        return False
    with transaction.atomic():
        platform.clients.set(clients)
        audit.record(by, "platform.clients-changed", platform, address=address,
                     before={"clients": before or "every client"}, after={"clients": after or "every client"})
    return True
