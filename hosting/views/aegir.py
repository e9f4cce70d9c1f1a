"""Import from Aegir (administrators): a directory of Aegir's context files inside the roots,
its plan to read, then Import to record it (hosting.aegir, as the command and the API do)."""
from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from hosting import access
from hosting.aegir import directory
from hosting.aegir import plan as aegir_plan
from hosting.aegir.record import run
from hosting.aegir.show import as_data
from hosting.inventory import InventoryError, local_server
from hosting.models import Server
from hosting.views.common import AuthenticatedHttpRequest, client_address


class AegirImportForm(forms.Form):
    directory = forms.CharField(max_length=1024, label="Directory of Aegir's context files",
                                help_text="The aegir user's ~/.drush (its *.alias.drushrc.php files), inside the "
                                          "configured roots. It is read as data, never run.")
    server = forms.ModelChoiceField(queryset=Server.objects.order_by("name"), required=False,
                                    empty_label="This host's server")


@login_required
def aegir_import(request: AuthenticatedHttpRequest) -> HttpResponse:
    access.require_admin(request.user)
    form = AegirImportForm(request.POST if request.method == "POST" else None)
    context: dict = {"form": form}
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "aegir/import.html", context, status=400)
        server = form.cleaned_data["server"] or local_server()
        try:
            path = directory(form.cleaned_data["directory"])
            if request.POST.get("confirm") == "import":
                outcome = run(path, server, by=request.user, address=client_address(request))
                context.update(plan=as_data(outcome.plan), done=outcome.counts())
            else:
                context["plan"] = as_data(aegir_plan.build(path, server))
        except InventoryError as exc:
            form.add_error("directory", str(exc))
            return render(request, "aegir/import.html", context, status=400)
    return render(request, "aegir/import.html", context, status=status)
