"""The off-site remotes page: every remote the user may see with how far behind it is, a form to
add one and a button to remove one (hosting.offsite). Administrators configure any server's
remotes; a client's managers their client's, on the servers that hold its sites."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from hosting import access, offsite
from hosting.models import Client, Membership, Server
from hosting.offsiteforms import RemoteForm
from hosting.views.common import AuthenticatedHttpRequest, client_address
from provision.offsite import RemoteInvalid


def _form(request: AuthenticatedHttpRequest, data: object = None) -> RemoteForm | None:
    admin = access.is_admin(request.user)
    clients = (Client.objects.all() if admin else
               Client.objects.filter(pk__in=access.client_ids(request.user, (Membership.MANAGER,)))).order_by("name")
    if admin:
        servers = Server.objects.order_by("name")
    else:
        servers = Server.objects.filter(platforms__sites__client__in=clients).distinct().order_by("name")
    if not admin and not clients.exists():
        return None
    return RemoteForm(data, servers=servers, clients=clients, client_required=not admin)


@login_required
def remote_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = _form(request, request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("You may not configure remotes.")
        if form.is_valid():
            options, secrets = form.values()
            try:
                remote = offsite.add_remote(request.user, server=form.cleaned_data["server"],
                                            client=form.cleaned_data["client"], name=form.cleaned_data["name"],
                                            kind=form.cleaned_data["kind"], options=options, secrets=secrets,
                                            address=client_address(request))
            except RemoteInvalid as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                messages.success(request, f"The remote {remote.name} is added; the next replication copies to it.")
                return redirect("remote-list")
        status = 400
    rows = [offsite.behind(r) for r in offsite.remotes(request.user)]
    changeable = {b.remote.pk for b in rows if offsite.may_configure(request.user, b.remote.server, b.remote.client)}
    return render(request, "backups/remotes.html", {"rows": rows, "form": form, "changeable": changeable},
                  status=status)


@login_required
@require_POST
def remote_delete(request: AuthenticatedHttpRequest, remote_id: int) -> HttpResponse:
    remote = offsite.remotes(request.user).filter(pk=remote_id).first()
    if remote is None:
        raise Http404("No such remote.")
    offsite.remove_remote(request.user, remote, address=client_address(request))
    messages.success(request, f"The remote {remote.name} is removed; what it holds stays there.")
    return redirect("remote-list")
