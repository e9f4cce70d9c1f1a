"""The status page and /status.json: every health check of hosting.health, red when down."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from hosting import access, health
from hosting.machine import iso
from hosting.views.common import AuthenticatedHttpRequest, render_page


@login_required
@never_cache
def status(request: AuthenticatedHttpRequest) -> HttpResponse:
    access.require_admin(request.user)
    checks = health.cached()
    titles = {"core": "Control plane", "workers": "Worker clusters", "servers": "Database and web servers",
              "disk": "Disk", "backups": "Backup stores", "certificates": "Site certificates"}
    groups = [(title, [c for c in checks if c.group == key]) for key, title in titles.items()]
    context = {"ok": all(c.ok for c in checks), "down": [c for c in checks if not c.ok],
               "groups": [(title, rows) for title, rows in groups if rows], "checked_at": timezone.now()}
    # 200 even when something is down: the page is for people (and htmx swaps only 2xx
    # answers); monitors read /status.json, whose status code says it.
    return render_page(request, "status/status.html", context, parts=("checks",))


@never_cache
def status_json(request: HttpRequest) -> JsonResponse:
    """For monitoring: 200 when every check passes, 503 otherwise. Open without login so that a
    monitor needs no account; the list of checks (server names, hosts, paths, errors) only for
    administrators, others get the counts."""
    checks = health.cached()
    ok = all(c.ok for c in checks)
    body: dict[str, object] = {"ok": ok, "checked_at": iso(timezone.now()), "checks": len(checks),
                               "failing": sum(not c.ok for c in checks)}
    if access.is_admin(request.user):
        body["checks"] = [c.as_dict() for c in checks]
    return JsonResponse(body, status=200 if ok else 503)
