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

from hosting import keyset
from hosting.clientaddress import client_address  # noqa: F401 - the views' "from where"
from hosting.inputs import MAX_ID, parse_int

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
    """One page of a list, found without COUNT(*) (counting 1,000,000 tasks on every page view
    costs more than the rest of the page) and without OFFSET (hosting.keyset): its links carry
    a cursor on the sort key of the first or last row shown, so the hundredth page costs what
    the first does."""

    rows: list[T]
    has_next: bool
    has_previous: bool
    query: str  # the filters, url-encoded, without the cursor
    next_cursor: str | None = None
    previous_cursor: str | None = None

    @property
    def next_url(self) -> str:
        return self._url(self.next_cursor)

    @property
    def previous_url(self) -> str:
        return self._url(self.previous_cursor)

    def _url(self, cursor: str | None) -> str:
        parts = [self.query] if self.query else []
        if cursor:
            parts.append(urlencode({"cursor": cursor}))
        return "?" + "&".join(parts)


def paginate(qs: QuerySet[Any], params: QueryDict, per_page: int = 50) -> Page[Any]:
    """The page of QS (ordered by its own fields, scoped already) that ?cursor= points at. A
    cursor the list did not make (typed, tampered, from an old ?page= link) gives the first page."""
    keep = {k: v for k, v in params.items() if k not in ("page", "cursor") and v != ""}
    try:
        found = keyset.page(qs, params.get("cursor") or None, per_page)
    except keyset.CursorInvalid:
        found = keyset.page(qs, None, per_page)
    return Page(found.rows, found.has_next, found.has_previous, urlencode(keep),
                found.next_cursor, found.previous_cursor)


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
