"""Platforms built from Git: `POST /platforms/build` records a platform and starts its build,
`POST /platforms/{id}/next` builds the next version of a built one, `GET /platforms/{id}/build`
says what a platform was built from (administrators). A start answers with the build task (202);
a bad URL, ref, name or secret is a 400, a refused start a 409. The push webhook is not here: a
Git host signs its body instead of holding a token (hosting.views.gitbuild)."""
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


class BuildOut(Schema):
    repository: str
    ref: str
    commit: str
    secret: str
    webhook: bool
    webhook_url: str
    superseded_by: int | None


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


@router.get("/platforms/{platform_id}/build", response=responses(BuildOut), tags=["platforms"])
def get_build(request: HttpRequest, platform_id: Id):
    """What a platform was built from: repository, ref, commit, the secret's name (never its
    value), whether it has a push webhook and where (administrators)."""
    from django.conf import settings
    from django.urls import reverse

    platform = access.access_platform(request.user, platform_id)
    access.require_admin(request.user)
    hook = settings.HARBORMASTER_BASE_URL + reverse("platform-webhook", args=[platform.pk])
    return {"repository": platform.repository, "ref": platform.git_ref, "commit": platform.git_commit,
            "secret": platform.git_secret, "webhook": bool(platform.webhook_secret),
            "webhook_url": hook if platform.webhook_secret else "", "superseded_by": platform.superseded_by_id}


@router.post("/platforms/{platform_id}/next", response=responses(TaskOut, 202), tags=["platforms"])
def next_platform(request: HttpRequest, platform_id: Id, payload: NextIn):
    """Build the next version of a platform built from Git: a new platform from REF."""
    platform = access.access_platform(request.user, platform_id)  # 404 for what the caller cannot see
    access.require_admin(request.user)
    _new, task = platformbuild.next_build(request.user, platform, payload.ref, name=payload.name,
                                          address=address(request))
    return Status(202, task_out(task, request.user))
