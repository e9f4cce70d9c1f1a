"""A site's names: add and remove aliases, set its redirects. Each is a task (alias-add,
alias-remove, redirects) started through hosting.starting like every other, so the answer is the
queued task (202), 409 when it cannot run now, 400 with the reason when the name is bad or taken
(the holder named only to whoever may know: an administrator, or the holder's own client)."""
from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema, Status

from hosting import access
from hosting.api.common import Id, responses
from hosting.api.tasks import TaskOut, start_site_task, task_out

router = Router()


class AliasIn(Schema):
    alias: str


class RedirectsIn(Schema):
    alias_mode: str
    www_redirect: str = ""


class DomainsOut(Schema):
    domain: str
    aliases: list[str]
    alias_mode: str
    www_redirect: str
    names: list[str]


@router.get("/sites/{site_id}/domains", response=responses(DomainsOut), tags=["sites"])
def get_domains(request: HttpRequest, site_id: Id):
    """The site's domain, aliases, redirect settings and every name it answers to."""
    site = access.access_site(request.user, site_id)
    return {"domain": site.domain, "aliases": site.aliases, "alias_mode": site.alias_mode,
            "www_redirect": site.www_redirect, "names": site.names}


@router.post("/sites/{site_id}/aliases", response=responses(TaskOut, 202), tags=["sites"])
def add_alias(request: HttpRequest, site_id: Id, payload: AliasIn):
    """Queue an alias-add task: `{"alias": "www.example.org"}`."""
    return Status(202, task_out(start_site_task(request, site_id, "alias-add", {"alias": payload.alias})))


@router.delete("/sites/{site_id}/aliases/{alias}", response=responses(TaskOut, 202), tags=["sites"])
def remove_alias(request: HttpRequest, site_id: Id, alias: str):
    """Queue an alias-remove task for ALIAS (one of the site's aliases)."""
    return Status(202, task_out(start_site_task(request, site_id, "alias-remove", {"alias": alias})))


@router.patch("/sites/{site_id}/redirects", response=responses(TaskOut, 202), tags=["sites"])
def set_redirects(request: HttpRequest, site_id: Id, payload: RedirectsIn):
    """Queue a redirects task: `{"alias_mode": "serve" | "redirect", "www_redirect": "" | "to-bare" |
    "to-www"}` (to-bare: www.<domain> answers 301 to the domain; to-www: the bare name answers 301 to
    the site's www. domain)."""
    data = {"alias_mode": payload.alias_mode, "www_redirect": payload.www_redirect}
    return Status(202, task_out(start_site_task(request, site_id, "redirects", data)))
