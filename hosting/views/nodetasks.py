"""Starting a task from a node's page: one view for sites, platforms and servers.

GET shows the page of a type whose button opens one (its arguments, or a confirmation); POST
starts the task through hosting.starting (permission, refusal, arguments, quota). An htmx press
of a button that opens no page answers with the node's work partial (the new task, or the
buttons as they are now with the reason); otherwise the browser goes to the new task, or sees
the task's page again with the reason (409) or the form's errors."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from hosting import access, starting
from hosting.catalogue import TYPES
from hosting.views import platforms, servers, sites
from hosting.views.common import AuthenticatedHttpRequest
from hosting.views.queueing import queued_response, start_or_refuse


@dataclass(frozen=True)
class NodePage:
    for_action: Callable[[Any, int, str], Any]   # hosting.access: the node, or 404 / 403
    work_context: Callable[..., dict[str, Any]]  # the node page's part that a task changes
    template: str                                # the node's page (its #work partial)
    list_url: str
    list_label: str
    detail_url: str
    noun: str                                    # in the task page's heading ("" for a site)


PAGES = {
    "site": NodePage(access.site_for_action, sites.work_context, "sites/detail.html", "site-list", "Sites",
                     "site-detail", ""),
    "platform": NodePage(access.platform_for_action, platforms.work_context, "platforms/detail.html",
                         "platform-list", "Platforms", "platform-detail", "platform "),
    "server": NodePage(access.server_for_action, servers.work_context, "servers/detail.html", "server-list",
                       "Servers", "server-detail", "server "),
}


def _name(target: Any) -> str:
    return getattr(target, "domain", None) or target.name


@login_required
def node_task(request: AuthenticatedHttpRequest, target_type: str, kind: str, **ids: int) -> HttpResponse:
    known = TYPES.get(f"{target_type}.{kind}")
    if known is None:
        raise Http404("No such task type.")
    node = PAGES[target_type]
    target = node.for_action(request.user, next(iter(ids.values())), kind)
    if request.method != "POST":
        if not known.page:
            return redirect(node.detail_url, target.pk)
        return _page(request, node, target, starting.button(request.user, target, kind),
                     starting.task_form(request.user, target, kind, None, initial=request.GET.dict()))
    form = starting.task_form(request.user, target, kind, request.POST)
    task, refused, form = start_or_refuse(request, target, kind, form)
    partial = request.htmx and not known.page
    if task is not None:
        if partial:
            return render(request, f"{node.template}#work", node.work_context(request.user, target, new=task))
        return queued_response(request, task)
    if partial:
        # Pressed on a stale page: show the buttons as they are now, with the reason.
        return render(request, f"{node.template}#work", node.work_context(request.user, target, refused=refused))
    if refused:
        form.add_error(None, refused)
    return _page(request, node, target, starting.Button(known, refused), form, status=409 if refused else 200)


def _page(request: AuthenticatedHttpRequest, node: NodePage, target: Any, button: starting.Button, form: Any,
          status: int = 200) -> HttpResponse:
    name = _name(target)
    context = {"node": node, "target": target, "name": name, "button": button, "form": form,
               "type": button.type, "heading": f"{button.label} {node.noun}{name}"}
    return render(request, "tasks/start.html", context, status=status)
