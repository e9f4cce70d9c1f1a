"""What every endpoint shares: the error shape, ids in paths, pages without COUNT(*) and, when
followed by their `next` cursor, without OFFSET (hosting.keyset)."""
from __future__ import annotations

from typing import Annotated, Any

from django.db.models import QuerySet
from ninja import Field, Schema
from pydantic import BeforeValidator

from hosting import keyset
from hosting.api.auth import ApiProblem
from hosting.clientaddress import client_address
from hosting.inputs import MAX_ID, MAX_PAGE, MAX_SEARCH, api_integer

# Ids and numbers are ASCII digits (hosting.inputs); a bigger id is simply not found.
# The Field first: django-ninja documents the first one's bounds (as minimum/maximum).
Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(api_integer)]
PageNumber = Annotated[int, Field(ge=1, le=MAX_PAGE), BeforeValidator(api_integer)]
PerPage = Annotated[int, Field(ge=1, le=200), BeforeValidator(api_integer)]
LogPosition = Annotated[int, Field(ge=-1, le=MAX_ID), BeforeValidator(api_integer)]
Search = Annotated[str, Field(max_length=MAX_SEARCH)]
# The `next` of the page before: an opaque value, never built by clients.
Cursor = Annotated[str, Field(max_length=keyset.MAX_CURSOR)]


class Error(Schema):
    code: str
    message: str


# Every endpoint may answer these (documented so that clients and schemathesis know them).
ERRORS: dict[int, type[Schema]] = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 429: Error}


def responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERRORS}


def page_schema(item: type[Schema]) -> type[Schema]:
    """ItemPage: {items, page, per_page, has_next, next}."""
    # A class made at run time: mypy cannot check list[item] with ITEM a variable.
    return type(f"{item.__name__.removesuffix('Out')}Page", (Schema,), {
        "__annotations__": {"items": list[item], "page": int, "per_page": int,  # type: ignore[valid-type]
                            "has_next": bool, "next": str | None},
        "next": None,
    })


def paged(qs: QuerySet[Any], page: int, per_page: int, cursor: str, out: Any) -> dict[str, Any]:
    """One page, found by fetching one row more than shown (never counting a big table). With
    CURSOR (the `next` of the page before) the page starts after that row, found through the
    index whatever its depth; `page` numbers still work but read every row before them."""
    if cursor:
        try:
            found = keyset.page(qs, cursor, per_page)
        except keyset.CursorInvalid:
            raise ApiProblem("The cursor is not one this list gave: start again without it.",
                             code="bad_cursor") from None
        rows, has_next, following = found.rows, found.has_next, found.next_cursor
        page = 0
    else:
        start = (page - 1) * per_page
        rows = list(qs[start:start + per_page + 1])
        has_next = len(rows) > per_page
        rows = rows[:per_page]
        following = keyset.cursor_after(qs, rows[-1]) if has_next else None
    return {"items": [out(r) for r in rows], "page": page, "per_page": per_page,
            "has_next": has_next, "next": following}


def address(request: Any) -> str | None:
    """The caller's address for the audit trail: the panel's own answer (hosting.clientaddress)."""
    return client_address(request)
