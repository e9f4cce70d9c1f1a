"""Off-site remotes (hosting.offsite): list with how far behind each is, add, remove. Secrets go
in and never come out: no answer holds them. Administrators see and configure every remote; a
client's managers the remotes of their client, on servers that hold the client's sites."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status

from hosting import access, offsite
from hosting.api.auth import ApiProblem
from hosting.api.common import Id, address, responses
from provision.offsite import RemoteInvalid

router = Router()


class RemoteOut(Schema):
    id: int
    server: str
    client: int | None
    name: str
    kind: str
    where: str
    enabled: bool
    behind: int  # backups not copied there yet
    late: bool   # the oldest of them is older than HARBORMASTER_OFFSITE_MAX_LAG
    replicated_at: datetime | None
    last_error: str


class RemoteIn(Schema):
    server: int
    client: int | None = None
    name: str
    kind: Literal["sftp", "s3"]
    options: dict[str, str] = {}
    secrets: dict[str, str] = {}


def remote_out(b: offsite.Behind) -> dict[str, object]:
    r = b.remote
    return {"id": r.pk, "server": r.server.name, "client": r.client_id, "name": r.name, "kind": r.kind,
            "where": r.where, "enabled": r.enabled, "behind": b.missing, "late": b.late,
            "replicated_at": r.replicated_at, "last_error": r.last_error}


@router.get("/remotes", response=responses(list[RemoteOut]), tags=["backups"])
def list_remotes(request: HttpRequest):
    """The off-site remotes you may see, each with the backups it lacks."""
    return [remote_out(offsite.behind(r)) for r in offsite.remotes(request.user)]


@router.post("/remotes", response=responses(RemoteOut, 201), tags=["backups"])
def add_remote(request: HttpRequest, payload: RemoteIn):
    """Record a remote (`options`: host, port, user, path, host_key for sftp; endpoint, region,
    bucket, path, provider for s3. `secrets`: private_key or password; access_key_id and
    secret_access_key). 400 names the refused field."""
    # What the caller cannot see answers as what does not exist.
    server = access.servers(request.user).filter(pk=payload.server).first()
    client = access.clients(request.user).filter(pk=payload.client).first() if payload.client else None
    if server is None or (payload.client and client is None):
        raise ApiProblem("No such server or client.", code="not_found", status=404)
    try:
        remote = offsite.add_remote(request.user, server=server, client=client, name=payload.name,
                                    kind=payload.kind, options=payload.options, secrets=payload.secrets,
                                    address=address(request))
    except RemoteInvalid as exc:
        raise ApiProblem(f"{exc.field}: {exc}", code="bad_input", status=400) from None
    return Status(201, remote_out(offsite.behind(remote)))


@router.delete("/remotes/{remote_id}", response=responses(RemoteOut), tags=["backups"])
def remove_remote(request: HttpRequest, remote_id: Id):
    """Forget the remote and its records of copies (answered with it as it was); what it holds
    stays there. Its client's managers and administrators only (403 for its other members)."""
    remote = offsite.remotes(request.user).filter(pk=remote_id).first()
    if remote is None:
        raise ApiProblem("No such remote.", code="not_found", status=404)
    gone = remote_out(offsite.behind(remote))
    offsite.remove_remote(request.user, remote, address=address(request))
    return gone
