"""People: the list of every account, for administrators (client members get 403, as on the
other administrators' pages). Accounts are created by accepting an invitation, or by
`manage.py createsuperuser`; their details are edited in Django's admin."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse

from hosting import access, people
from hosting.inputs import search_text
from hosting.views.common import AuthenticatedHttpRequest, paginate, render_page


@login_required
def people_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    access.require_admin(request.user)
    q = search_text(request.GET.get("q"))
    page = paginate(people.people(q), request.GET)
    return render_page(request, "people/list.html", {"page": page, "q": q}, parts=("results",))
