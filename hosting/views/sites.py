"""Sites: the list (search, filters, pages) and the detail page (facts, disk use, tasks, backups,
a button for every task type; hosting.views.nodetasks starts them)."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from hosting import access, starting
from hosting.actions import adopt_database, resolve_duplicate
from hosting.catalogue.situation import Situation
from hosting.createforms import may_create_sites
from hosting.forms import AdoptDatabaseForm, ResolveDuplicateForm
from hosting.inputs import search_text
from hosting.listing import sites_matching
from hosting.models import Certificate, Site
from hosting.refused import TaskRefused
from hosting.views.common import (
    AuthenticatedHttpRequest,
    client_address,
    int_param,
    new_task,
    paginate,
    render_page,
)

RECENT_TASKS = 10
BACKUPS_SHOWN = 20


@login_required
def site_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    q = search_text(request.GET.get("q"))
    status = request.GET.get("status", "")
    platform = int_param(request.GET, "platform")
    client = int_param(request.GET, "client")
    attention = request.GET.get("attention") == "1"
    sites = sites_matching(user, q=q, status=status, platform=platform, client=client, attention=attention)
    context = {
        "page": paginate(sites.select_related("platform", "client").order_by("domain"), request.GET),
        "q": q, "status": status, "platform": platform, "client": client, "attention": attention,
        "statuses": [s for s in Site.STATUSES if s[0] != Site.DELETED],
        "platforms": list(access.platforms(user).order_by("name").values_list("pk", "name")),
        "clients": list(access.clients(user).order_by("name").values_list("pk", "name")),
        "may_create": may_create_sites(user),
    }
    return render_page(request, "sites/list.html", context, parts=("results",))


# Started from the page's Domains section (sites/_domains.html), not from the row of task buttons.
DOMAIN_KINDS = ("alias-add", "alias-remove", "redirects")


def domains_context(user: Any, site: Site, buttons: list[starting.Button]) -> dict[str, Any]:
    """The Domains section: the buttons of the domain tasks USER may start (by kind, with "_" for
    "-"), and the redirects form with the site's settings."""
    found = {b.kind.replace("-", "_"): b for b in buttons if b.kind in DOMAIN_KINDS}
    form = starting.task_form(user, site, "redirects", None) if "redirects" in found else None
    reasons = [b.reason for b in found.values() if b.reason and b.kind != "alias-remove"]
    return {"domain_buttons": found, "redirects_form": form, "domains_reason": reasons[0] if reasons else ""}


def work_context(user: Any, site: Site, **extra: Any) -> dict[str, Any]:
    """The part of the page that changes when a task is queued or ends: buttons and tasks."""
    situation = Situation(user, site)
    return {
        "site": site,
        "active": situation.active,
        # A reason every refused button shares is said once: a task in progress, or the attention
        # the site needs (its box above the buttons says why; the buttons need not repeat it).
        "conflict": situation.conflict or site.attention_refusal("backup"),
        "conflict_said": situation.active is None and bool(site.attention),
        "buttons": starting.buttons(user, situation),
        "tasks": access.tasks(user).filter(site=site).select_related("created_by")[:RECENT_TASKS],
        "backup_count": situation.backups["n"],
        "backup_bytes": situation.backups["bytes"],
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
    context.update(domains_context(request.user, site, context["buttons"]))
    context["is_admin"] = access.is_admin(request.user)
    if site.status == Site.FAILED:
        # The error is said once, from the install that failed (the buttons it refuses say why
        # together, hosting.templatetags.hm.refused_groups).
        context["failed_install"] = (access.tasks(request.user).filter(site=site, kind="install")
                                     .order_by("-created_at", "-id").first())
    context["certificate"] = certificate = Certificate.objects.filter(site=site).first()
    context["certificate_expiring"] = bool(certificate and certificate.issued and certificate.expires_within(14))
    context["may_verify"] = any(b.kind == "verify" for b in context["buttons"])
    return render_page(request, "sites/detail.html", context, parts=("work",))


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
