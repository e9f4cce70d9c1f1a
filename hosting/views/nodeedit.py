"""New and edited servers and clients, and a platform's clients: administrators' forms
(hosting.nodeforms), written by hosting.nodeadmin. Others get 403, as on New platform. A refused
form writes nothing and says why next to the field, or above the form."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from hosting import access, nodeadmin
from hosting.models import Client, Server
from hosting.nodeforms import ClientForm, PlatformClientsForm, ServerForm
from hosting.refused import TaskRefused
from hosting.views.common import AuthenticatedHttpRequest, client_address


def _data(request: AuthenticatedHttpRequest):
    return request.POST if request.method == "POST" else None


@login_required
def server_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    access.require_admin(request.user)
    form = ServerForm(_data(request))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            server, task = nodeadmin.create_server(form, by=request.user, address=client_address(request))
            messages.success(request, f"Server {server.name} recorded; its verify is queued (task {task.pk}).")
            return redirect(f"{reverse('server-detail', args=[server.pk])}?new={task.pk}")
    return render(request, "servers/edit.html", {"form": form, "server": None}, status=status)


@login_required
def server_edit(request: AuthenticatedHttpRequest, server_id: int) -> HttpResponse:
    server = access.access_server(request.user, server_id)
    access.require_admin(request.user)
    form = ServerForm(_data(request), instance=server)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                server, task = nodeadmin.edit_server(form, by=request.user, address=client_address(request))
            except TaskRefused as exc:
                form.add_error(None, f"Not saved: {exc} Its verify must run after a change; try again once "
                                     "the server's current task has finished.")
                status = 409
            else:
                if task is None:
                    messages.info(request, "Nothing changed.")
                    return redirect("server-detail", server_id=server.pk)
                messages.success(request, f"Server {server.name} changed; the verify that applies it is "
                                          f"queued (task {task.pk}).")
                return redirect(f"{reverse('server-detail', args=[server.pk])}?new={task.pk}")
    server = Server.objects.get(pk=server_id)  # the page's title: the stored name, not the typed one
    return render(request, "servers/edit.html", {"form": form, "server": server}, status=status)


@login_required
def client_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    access.require_admin(request.user)
    form = ClientForm(_data(request))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            client = nodeadmin.create_client(form, by=request.user, address=client_address(request))
            messages.success(request, f"Client {client.name} created. Invite its people from this page.")
            return redirect("client-detail", client_id=client.pk)
    return render(request, "clients/edit.html", {"form": form, "client": None}, status=status)


@login_required
def client_edit(request: AuthenticatedHttpRequest, client_id: int) -> HttpResponse:
    client = access.access_client(request.user, client_id)
    access.require_admin(request.user)
    form = ClientForm(_data(request), instance=client)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            nodeadmin.edit_client(form, by=request.user, address=client_address(request))
            messages.success(request, f"Client {client.name}: changes saved.")
            return redirect("client-detail", client_id=client.pk)
    client = Client.objects.get(pk=client_id)
    return render(request, "clients/edit.html", {"form": form, "client": client}, status=status)


@login_required
def platform_clients(request: AuthenticatedHttpRequest, platform_id: int) -> HttpResponse:
    platform = access.access_platform(request.user, platform_id)
    access.require_admin(request.user)
    form = PlatformClientsForm(_data(request), platform=platform)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            chosen = list(form.cleaned_data["clients"])
            nodeadmin.set_platform_clients(platform, chosen, by=request.user, address=client_address(request))
            names = ", ".join(c.name for c in chosen) or "every client"
            messages.success(request, f"Platform {platform.name} is open to {names}.")
            return redirect("platform-detail", platform_id=platform.pk)
    return render(request, "platforms/clients.html", {"form": form, "platform": platform}, status=status)
