"""A site's log viewer: the end of its access or error log, filtered by text (and by status
for the access log), polled by htmx while the page is open. Whoever sees the site sees its
logs (another client's site: 404); only administrators see where the files are. The lines are
untrusted: the template escapes them (autoescape), provision.logtail has already cut them and
removed control characters; the download is plain text with the same lines."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from hosting import access, sitelogs
from hosting.views.common import AuthenticatedHttpRequest, render_page


@login_required
@require_GET
def site_logs(request: AuthenticatedHttpRequest, site_id: int) -> HttpResponse:
    site = access.access_site(request.user, site_id)  # another client's site: 404
    kind = request.GET.get("log", "access")
    if kind not in sitelogs.KINDS:
        kind = "access"
    grep = request.GET.get("grep", "")[:200]
    status = request.GET.get("status", "")
    context: dict[str, Any] = {"site": site, "kind": kind, "grep": grep, "status": status,
                               "lines_wanted": request.GET.get("lines", ""),
               "is_admin": access.is_admin(request.user), "error": "", "log": None,
               "may_watchdog": access.may_queue(request.user, site, "drush")}
    try:
        lines = sitelogs.parse_lines(request.GET.get("lines"))
        context["lines_wanted"] = lines
        context["log"] = sitelogs.read(site, kind, lines=lines, grep=grep, status=status)
    except (ValueError, sitelogs.LogUnavailable) as exc:
        context["error"] = str(exc)
    if request.GET.get("format") == "text":
        found: sitelogs.SiteLog | None = context["log"]
        body = "\n".join(found.lines) + "\n" if found else f"{context['error']}\n"
        response = HttpResponse(body, content_type="text/plain; charset=utf-8", status=200 if found else 400)
        response["Content-Disposition"] = f'attachment; filename="{site.domain}.{kind}.log"'
        response["X-Content-Type-Options"] = "nosniff"
        return response
    return render_page(request, "sites/logs.html", context, parts=("lines",))
