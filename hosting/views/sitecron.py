"""A site's cron on its page (hosting.cron): the interval form, the last run and a short history.
Who may start a cron run on the site (hosting.starting.may_start) may set its interval; the
site's page shows the section to whoever sees the site."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from hosting import access, cron, starting
from hosting.views.common import AuthenticatedHttpRequest


@login_required
@require_POST
def site_cron_interval(request: AuthenticatedHttpRequest, site_id: int) -> HttpResponse:
    site = access.access_site(request.user, site_id)  # another client's site: 404
    if not starting.may_start(request.user, site, cron.KIND):
        raise PermissionDenied("You may not change this site's cron.")
    try:
        minutes = cron.parse_interval(request.POST.get("interval", ""))
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("site-detail", site_id=site.pk)
    cron.set_interval(site, minutes, by=request.user)
    shown = "off" if minutes == 0 else ("the default" if minutes is None else f"every {minutes} minutes")
    messages.success(request, f"Cron of {site.domain}: {shown}.")
    return redirect("site-detail", site_id=site.pk)
