"""Sites: the list (search, filters, pages), the detail page (facts, disk use, tasks, backups,
a button for every task type) and the pages that queue a site task."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from hosting import access, starting
from hosting.actions import TaskRefused, adopt_database, resolve_duplicate
from hosting.forms import AdoptDatabaseForm, ResolveDuplicateForm
from hosting.inputs import search_text
from hosting.models import Site
from hosting.tasktypes import TYPES
from hosting.views import availability
from hosting.views.common import AuthenticatedHttpRequest, client_address, int_param, new_task, paginate, render_page
from hosting.views.queueing import queued_response, start_or_refuse

RECENT_TASKS = 10
BACKUPS_SHOWN = 20


@login_required
def site_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    sites = access.sites(user).select_related("platform", "client")
    q = search_text(request.GET.get("q"))
    status = request.GET.get("status", "")
    platform = int_param(request.GET, "platform")
    client = int_param(request.GET, "client")
    if q:
        sites = sites.filter(domain__icontains=q.lower())
    if status in dict(Site.STATUSES):
        sites = sites.filter(status=status)
    if platform:
        sites = sites.filter(platform_id=platform)
    if client:
        sites = sites.filter(client_id=client)
    attention = request.GET.get("attention") == "1"
    if attention:
        sites = sites.exclude(attention="")
    context = {
        "page": paginate(sites.order_by("domain"), request.GET),
        "q": q, "status": status, "platform": platform, "client": client, "attention": attention,
        "statuses": [s for s in Site.STATUSES if s[0] != Site.DELETED],
        "platforms": list(access.platforms(user).order_by("name").values_list("pk", "name")),
        "clients": list(access.clients(user).order_by("name").values_list("pk", "name")),
    }
    return render_page(request, "sites/list.html", context, parts=("results",))


def _targets(user, site: Site) -> tuple[Any, Any]:
    """Platforms a clone or a migration of SITE may go to."""
    clone = availability.new_site_platforms(user, site.client)
    return clone, availability.new_site_platforms(user, site.client, exclude=site.platform)


def work_context(user, site: Site, **extra: Any) -> dict[str, Any]:
    """The part of the page that changes when a task is queued or ends: buttons and tasks."""
    active = availability.active_task(user, site)
    backups = access.backups(user).filter(site=site).aggregate(n=Count("id"), bytes=Sum("size"))
    clone, migrate = _targets(user, site)
    counts = {"clone_targets": clone.count(), "migrate_targets": migrate.count()}

    def refuse(kind: str) -> str:
        return availability.site_refusal(site, kind, active=active, backups=backups["n"], **counts)

    return {
        "site": site,
        "active": active,
        # A reason every refused button shares is said once: a task in progress, or the attention
        # the site needs (its box above the buttons says why; the buttons need not repeat it).
        "conflict": availability.conflict(active, "site") or site.attention_refusal("backup"),
        "conflict_said": active is None and bool(site.attention),
        "buttons": availability.buttons(user, site, refuse),
        "tasks": access.tasks(user).filter(site=site).select_related("created_by")[:RECENT_TASKS],
        "backup_count": backups["n"] or 0,
        "backup_bytes": backups["bytes"] or 0,
        **extra,
    }


@login_required
def site_detail(request: AuthenticatedHttpRequest, site_id: int) -> HttpResponse:
    site = access.access_site(request.user, site_id)
    context = work_context(request.user, site, new=new_task(request))
    if request.htmx and request.GET.get("watch") and context["active"] is None:
        # The task the page was watching has ended: facts, disk use and backups may have
        # changed too, so the whole page is read again.
        return HttpResponseClientRefresh()
    context["backups"] = access.backups(request.user).filter(site=site).select_related("task")[:BACKUPS_SHOWN]
    context["disk"] = [
        ("files", "Files", site.disk_files_bytes),
        ("database", "Database", site.disk_db_bytes),
        ("backups", "Backups", site.disk_backup_bytes or context["backup_bytes"]),
    ]
    context["is_admin"] = access.is_admin(request.user)
    context["may_verify"] = any(b.kind == "verify" for b in context["buttons"])
    return render_page(request, "sites/detail.html", context, parts=("work",))


@login_required
def site_task(request: AuthenticatedHttpRequest, site_id: int, kind: str) -> HttpResponse:
    """GET: the form of a task that needs arguments or a confirmation. POST: queue the task
    through hosting.starting, unless it cannot run now (the page says why)."""
    if f"site.{kind}" not in TYPES:
        raise Http404("No such task type.")
    site = access.site_for_action(request.user, site_id, kind)
    button = next(b for b in work_context(request.user, site)["buttons"] if b.kind == kind)
    form = starting.task_form(request.user, site, kind, request.POST if request.method == "POST" else None)
    refused = ""
    if request.method == "POST":
        task, refused, form = start_or_refuse(request, site, kind, form)
        if task is not None:
            if request.htmx and not button.page:
                return render(request, "sites/detail.html#work", work_context(request.user, site, new=task))
            return queued_response(request, task)
        if request.htmx and not button.page:
            # Pressed on a stale page: show the buttons as they are now, with the reason.
            return render(request, "sites/detail.html#work", work_context(request.user, site, refused=refused))
        if refused:
            form.add_error(None, refused)
    elif not button.page:
        return redirect("site-detail", site_id=site.pk)
    context = {"site": site, "button": button, "form": form, "type": TYPES[f"site.{kind}"]}
    return render(request, "sites/task.html", context, status=409 if refused else 200)


@login_required
@require_POST
def site_resolve_duplicate(request: AuthenticatedHttpRequest, site_id: int) -> HttpResponse:
    """An administrator says which of the two copies of a site is the site (one click)."""
    site = access.access_site(request.user, site_id)
    access.require_admin(request.user)
    form = ResolveDuplicateForm(request.POST, site=site)
    if not form.is_valid():
        return _refused(request, site, "Choose one of the two platforms.")
    try:
        task = resolve_duplicate(site, form.cleaned_data["platform"], by=request.user, address=client_address(request))
    except TaskRefused as exc:
        return _refused(request, site, str(exc))
    return redirect("task-detail", task_id=task.pk)


@login_required
@require_POST
def site_adopt_database(request: AuthenticatedHttpRequest, site_id: int) -> HttpResponse:
    """An administrator confirms that the database the site's settings.php names is the site's."""
    site = access.access_site(request.user, site_id)
    access.require_admin(request.user)
    form = AdoptDatabaseForm(request.POST)
    if not form.is_valid():
        return _refused(request, site, "Name the database to adopt.")
    try:
        task = adopt_database(site, form.cleaned_data["database"], by=request.user, address=client_address(request))
    except TaskRefused as exc:
        return _refused(request, site, str(exc))
    return redirect("task-detail", task_id=task.pk)


def _refused(request: AuthenticatedHttpRequest, site: Site, refused: str) -> HttpResponse:
    if request.htmx:
        return render(request, "sites/detail.html#work", work_context(request.user, site, refused=refused),
                      status=409)
    messages.error(request, refused)
    return redirect("site-detail", site_id=site.pk)
