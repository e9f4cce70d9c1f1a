"""What every page shares: the request type, a pager that never counts big tables, the
client address for the audit trail (hosting.clientaddress), and reading integers from query
strings (hosting.inputs)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from hosting.clientaddress import client_address  # noqa: F401 - the views' "from where"
from hosting.inputs import MAX_ID, MAX_PAGE, parse_int

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_htmx.middleware import HtmxDetails


class AuthenticatedHttpRequest(HttpRequest):
    """What login_required views receive (for the type checker only)."""

    user: User
    htmx: HtmxDetails


T = TypeVar("T")


def int_param(data: QueryDict, name: str, default: int | None = None, *, maximum: int = MAX_ID) -> int | None:
    """NAME as ASCII digits not above MAXIMUM (hosting.inputs.parse_int), else DEFAULT."""
    number = parse_int(data.get(name, ""), maximum=maximum)
    return default if number is None else number


@dataclass
class Page(Generic[T]):
    """One page of a list, found without COUNT(*): counting 200,000 tasks on every page view
    costs more than the rest of the page. We fetch one row more than we show to know whether
    there is a next page."""

    rows: list[T]
    number: int
    has_next: bool
    query: str  # the filters, url-encoded, without the page number

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_url(self) -> str:
        return self._url(self.number + 1)

    @property
    def previous_url(self) -> str:
        return self._url(self.number - 1)

    def _url(self, number: int) -> str:
        return "?" + (self.query + "&" if self.query else "") + f"page={number}"


def paginate(qs: QuerySet[Any], params: QueryDict, per_page: int = 50) -> Page[Any]:
    number = max(1, int_param(params, "page", 1, maximum=MAX_PAGE) or 1)
    start = (number - 1) * per_page
    rows = list(qs[start:start + per_page + 1])
    keep = {k: v for k, v in params.items() if k != "page" and v != ""}
    return Page(rows[:per_page], number, len(rows) > per_page, urlencode(keep))


def render_page(request: HttpRequest, template: str, context: dict[str, Any],
                parts: tuple[str, ...] = ()) -> HttpResponse:
    """Render TEMPLATE, or only its named partial for an htmx request that names it: `?part=NAME`
    (polls) or the id of the element it swaps (HX-Target: a live search whose URL is pushed
    to the address bar stays clean). A history restore gets the whole page."""
    htmx = getattr(request, "htmx", None)
    part = request.GET.get("part", "") or (htmx.target if htmx else "") or ""
    if part in parts and htmx and not htmx.history_restore_request:
        template = f"{template}#{part}"
    response = render(request, template, context)
    # The same URL answers with a page or a fragment: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


def new_task(request: HttpRequest):
    """The task a page just queued (`?new=ID` on its polls), if the user may see it."""
    from hosting import access

    pk = int_param(request.GET, "new")
    return access.tasks(request.user).filter(pk=pk).first() if pk else None
