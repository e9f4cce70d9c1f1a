"""Administrators' writes to servers, clients and platforms: POST /servers, PATCH
/servers/{id} (each followed by the server's verify), POST /clients, PATCH /clients/{id} (title
and quotas), PATCH /platforms/{id} (the clients that may use it). Validated by the panel's
forms (hosting.nodeforms), written by hosting.nodeadmin.

These operations join hosting.api.nodes' router: a second router for the same paths would
answer 405 to every method the first one lacks."""
from __future__ import annotations

from typing import Any, Literal

from django.forms import BaseForm, model_to_dict
from django.http import HttpRequest
from ninja import Schema, Status

from hosting import access, nodeadmin
from hosting.api.auth import ApiProblem
from hosting.api.common import Id, address, responses
from hosting.api.nodes import ClientOut, PlatformOut, ServerOut, client_out, platform_out, router, server_out
from hosting.nodeforms import CLIENT_FIELDS, SERVER_FIELDS, ClientForm, PlatformClientsForm, ServerForm
from hosting.starting import describe_errors
from provision import web

# The web servers there are drivers for (provision.web): the schema's enum, checked on input.
WebKind = Literal[web.KINDS]  # type: ignore[valid-type]
DbKind = Literal["sqlite", "mysql", "postgresql"]


class ServerIn(Schema):
    name: str
    hostname: str = "localhost"
    queue: str | None = None
    http: WebKind = "none"
    web_conf_dir: str = ""
    web_listen: str = "80"
    web_tls_listen: str = "443"
    php_fastcgi: str = "unix:/run/php/php-fpm.sock"
    web_main_config: str = ""
    web_prefix: str = ""
    db_engine: DbKind = "sqlite"
    db_host: str = ""
    db_port: int | None = None
    db_admin_user: str = ""
    db_admin_password: str = ""
    sqlite_dir: str = ""
    db_user_host: str = "%"
    max_running_tasks: int | None = None


class ServerPatch(Schema):
    """Only the fields given change; the queue never does. Omitted password: kept."""

    name: str | None = None
    hostname: str | None = None
    http: WebKind | None = None
    web_conf_dir: str | None = None
    web_listen: str | None = None
    web_tls_listen: str | None = None
    php_fastcgi: str | None = None
    web_main_config: str | None = None
    web_prefix: str | None = None
    db_engine: DbKind | None = None
    db_host: str | None = None
    db_port: int | None = None
    db_admin_user: str | None = None
    db_admin_password: str | None = None
    sqlite_dir: str | None = None
    db_user_host: str | None = None
    max_running_tasks: int | None = None


class ServerChangedOut(ServerOut):
    verify_task: int | None


class ClientIn(Schema):
    name: str
    title: str = ""
    max_sites: int | None = None
    max_disk_bytes: int | None = None
    max_running_tasks: int | None = None


class ClientPatch(Schema):
    """Only the fields given change (null: no limit); the name stays."""

    title: str | None = None
    max_sites: int | None = None
    max_disk_bytes: int | None = None
    max_running_tasks: int | None = None


class PlatformPatch(Schema):
    clients: list[Id]


def _refuse(form: BaseForm) -> ApiProblem:
    codes = {e.code for errors in form.errors.as_data().values() for e in errors}
    if "unique" in codes:
        return ApiProblem(describe_errors(form), code="conflict", status=409)
    return ApiProblem(describe_errors(form))


def _merged(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The form data of a PATCH: the record as it is, with the fields given changed."""
    data = {**current, **changes}
    return {k: "" if v is None else v for k, v in data.items()}


@router.post("/servers", response=responses(ServerChangedOut, 201), tags=["servers"])
def create_server(request: HttpRequest, payload: ServerIn):
    """Administrators: record a server and queue its verify (verify_task)."""
    access.require_admin(request.user)
    form = ServerForm(_merged({}, payload.dict()))
    if not form.is_valid():
        raise _refuse(form)
    server, task = nodeadmin.create_server(form, by=request.user, address=address(request))
    return Status(201, {**server_out(server), "verify_task": task.pk})


@router.patch("/servers/{server_id}", response=responses(ServerChangedOut), tags=["servers"])
def edit_server(request: HttpRequest, server_id: Id, payload: ServerPatch):
    """Administrators: change a server's settings and queue the verify that applies them
    (verify_task; null when nothing changed). 409 while a task runs on the server."""
    server = access.access_server(request.user, server_id)
    access.require_admin(request.user)
    changes = payload.dict(exclude_unset=True)
    current = model_to_dict(server, fields=[f for f in SERVER_FIELDS if f != "db_admin_password"])
    form = ServerForm(_merged(current, changes), instance=server)
    if not form.is_valid():
        raise _refuse(form)
    server, task = nodeadmin.edit_server(form, by=request.user, address=address(request))
    return {**server_out(server), "verify_task": task.pk if task else None}


@router.post("/clients", response=responses(ClientOut, 201), tags=["clients"])
def create_client(request: HttpRequest, payload: ClientIn):
    access.require_admin(request.user)
    form = ClientForm(_merged({}, payload.dict()))
    if not form.is_valid():
        raise _refuse(form)
    client = nodeadmin.create_client(form, by=request.user, address=address(request))
    return Status(201, client_out(client))


@router.patch("/clients/{client_id}", response=responses(ClientOut), tags=["clients"])
def edit_client(request: HttpRequest, client_id: Id, payload: ClientPatch):
    """Administrators: change a client's title and quotas (null: no limit)."""
    client = access.access_client(request.user, client_id)
    access.require_admin(request.user)
    form = ClientForm(_merged(model_to_dict(client, fields=CLIENT_FIELDS), payload.dict(exclude_unset=True)),
                      instance=client)
    if not form.is_valid():
        raise _refuse(form)
    return client_out(nodeadmin.edit_client(form, by=request.user, address=address(request)))


@router.patch("/platforms/{platform_id}", response=responses(PlatformOut), tags=["platforms"])
def edit_platform(request: HttpRequest, platform_id: Id, payload: PlatformPatch):
    """Administrators: the clients that may create sites on the platform ([]: every client)."""
    platform = access.access_platform(request.user, platform_id)
    access.require_admin(request.user)
    form = PlatformClientsForm({"clients": [str(pk) for pk in payload.clients]}, platform=platform)
    if not form.is_valid():
        raise _refuse(form)
    nodeadmin.set_platform_clients(platform, list(form.cleaned_data["clients"]), by=request.user,
                                   address=address(request))
    return platform_out(platform)


