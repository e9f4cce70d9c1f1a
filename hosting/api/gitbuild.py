"""Platforms built from Git: `POST /platforms/build` records a platform and starts its build,
`POST /platforms/{id}/next` builds the next version of a built one (administrators). The answer
is the build task (202); a bad URL, ref, name or secret is a 400, a refused start a 409. The
push webhook is not here: a Git host signs its body instead of holding a token
(hosting.views.gitbuild)."""
from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema, Status

from hosting import access, platformbuild
from hosting.api.common import Id, address, responses
from hosting.api.tasks import TaskOut, task_out

router = Router()


class BuildIn(Schema):
    repository: str
    ref: str
    name: str = ""
    secret: str = ""
    server: Id | None = None
    webhook: bool = False


class NextIn(Schema):
    ref: str
    name: str = ""


@router.post("/platforms/build", response=responses(TaskOut, 202), tags=["platforms"])
def build_platform(request: HttpRequest, payload: BuildIn):
    """A new platform built from REPOSITORY at REF (a branch, tag or commit id); the task's target is
    the new platform. SECRET names a token or deploy key in the Git secrets directory."""
    access.require_admin(request.user)
    server = access.access_server(request.user, payload.server) if payload.server else None
    _platform, task = platformbuild.start_build(
        request.user, repository=payload.repository, ref=payload.ref, name=payload.name, secret=payload.secret,
        server=server, webhook=payload.webhook, address=address(request))
    return Status(202, task_out(task, request.user))


@router.post("/platforms/{platform_id}/next", response=responses(TaskOut, 202), tags=["platforms"])
def next_platform(request: HttpRequest, platform_id: Id, payload: NextIn):
    """Build the next version of a platform built from Git: a new platform from REF."""
    platform = access.access_platform(request.user, platform_id)  # 404 for what the caller cannot see
    access.require_admin(request.user)
    _new, task = platformbuild.next_build(request.user, platform, payload.ref, name=payload.name,
                                          address=address(request))
    return Status(202, task_out(task, request.user))
