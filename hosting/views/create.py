"""New sites and new platforms from the panel. The form offers and checks; hosting.inventory
records the node and queues its first task (install, verify), as for the API and the command
line. A refused form writes nothing and says why next to the field, or above the form."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from hosting import access, inventory
from hosting.createforms import NewPlatformForm, NewSiteForm, may_create_sites
from hosting.views.common import AuthenticatedHttpRequest, client_address, int_param


@login_required
def site_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    if not may_create_sites(user):
        raise PermissionDenied("You may not create sites: ask a manager of your client.")
    pk = int_param(request.GET, "platform")
    chosen = access.platforms(user).filter(pk=pk).first() if pk else None
    form = NewSiteForm(request.POST if request.method == "POST" else None, user=user, platform=chosen)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                client = inventory.client_for_new_site(user, data["client"])
                site, task = inventory.add_site(data["domain"], data["platform"], client=client,
                                                profile=data["profile"], by=user, address=client_address(request))
            except inventory.InventoryError as exc:
                form.add_error(None, str(exc))
                status = 409 if isinstance(exc, inventory.QuotaRefused) else 400
            else:
                return redirect(f"{reverse('site-detail', args=[site.pk])}?new={task.pk}")
        else:
            status = 400
    return render(request, "sites/new.html", {"form": form, "platform": chosen}, status=status)


@login_required
def platform_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    access.require_admin(request.user)
    form = NewPlatformForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                platform, task = inventory.add_platform(data["name"], data["path"], server=data["server"],
                                                        by=request.user, address=client_address(request))
            except inventory.InventoryError as exc:
                form.add_error(None, str(exc))
                status = 400
            else:
                return redirect(f"{reverse('platform-detail', args=[platform.pk])}?new={task.pk}")
        else:
            status = 400
    return render(request, "platforms/new.html", {"form": form}, status=status)

