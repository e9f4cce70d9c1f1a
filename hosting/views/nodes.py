"""Node delete: the confirmed, audited pages that delete a site's or platform's record only
(hosting.records). Administrators only."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render

from hosting import access, records
from hosting.forms import PlatformRecordDeleteForm, TypeNameForm
from hosting.views.common import AuthenticatedHttpRequest, client_address


@login_required
def site_delete_record(request: AuthenticatedHttpRequest, site_id: int) -> HttpResponse:
    access.require_admin(request.user)
    site = access.access_site(request.user, site_id)
    form = TypeNameForm(request.POST if request.method == "POST" else None, expected=site.domain)
    if request.method == "POST" and form.is_valid():
        try:
            records.delete_site_record(site, by=request.user, address=client_address(request))
        except records.RecordRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"The record of {site.domain} is deleted. {records.DISK_STAYS} "
                                      f"Verify platform {site.platform.name} to import the site again.")
            return redirect("platform-detail", platform_id=site.platform_id)
    context = {"node": site, "noun": "site", "name": site.domain, "form": form,
               "obstacle": records.site_obstacle(site), "platform": site.platform,
               "back": ("site-detail", site.pk)}
    return render(request, "nodes/delete.html", context, status=400 if form.errors else 200)


@login_required
def platform_delete_record(request: AuthenticatedHttpRequest, platform_id: int) -> HttpResponse:
    access.require_admin(request.user)
    platform = access.access_platform(request.user, platform_id)
    form = PlatformRecordDeleteForm(request.POST if request.method == "POST" else None, expected=platform.name)
    if request.method == "POST" and form.is_valid():
        try:
            _, sites = records.delete_platform_record(platform, by=request.user, address=client_address(request),
                                                      with_sites=form.cleaned_data["with_sites"])
        except records.RecordRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"The record of platform {platform.name} is deleted"
                                      f"{f', with {sites} site record(s)' if sites else ''}. {records.DISK_STAYS}")
            return redirect("platform-list")
    with_sites = bool(form.is_bound and form.data.get("with_sites"))
    context = {"node": platform, "noun": "platform", "name": platform.name, "form": form,
               "obstacle": records.platform_obstacle(platform, with_sites=True), "platform": platform,
               "live_sites": access.sites(request.user).filter(platform=platform).count(),
               "with_sites": with_sites, "back": ("platform-detail", platform.pk)}
    return render(request, "nodes/delete.html", context, status=400 if form.errors else 200)
