"""What every endpoint shares: the error shape, ids in paths, pages without COUNT(*)."""
from __future__ import annotations

from typing import Annotated, Any

from django.db.models import QuerySet
from ninja import Field, Schema
from pydantic import BeforeValidator

from hosting.clientaddress import client_address
from hosting.inputs import MAX_ID, MAX_PAGE, MAX_SEARCH, api_integer

# Ids and numbers are ASCII digits (hosting.inputs); a bigger id is simply not found.
# The Field first: django-ninja documents the first one's bounds (as minimum/maximum).
Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(api_integer)]
PageNumber = Annotated[int, Field(ge=1, le=MAX_PAGE), BeforeValidator(api_integer)]
PerPage = Annotated[int, Field(ge=1, le=200), BeforeValidator(api_integer)]
LogPosition = Annotated[int, Field(ge=-1, le=MAX_ID), BeforeValidator(api_integer)]
Search = Annotated[str, Field(max_length=MAX_SEARCH)]


class Error(Schema):
    code: str
    message: str


# Every endpoint may answer these (documented so that clients and schemathesis know them).
ERRORS: dict[int, type[Schema]] = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 429: Error}


def responses(ok: Any, status: int = 200) -> dict[int, Any]:
    return {status: ok, **ERRORS}


def page_schema(item: type[Schema]) -> type[Schema]:
    """ItemPage: {items, page, per_page, has_next}."""
    # A class made at run time: mypy cannot check list[item] with ITEM a variable.
    return type(f"{item.__name__.removesuffix('Out')}Page", (Schema,), {
        "__annotations__": {"items": list[item], "page": int, "per_page": int,  # type: ignore[valid-type]
                            "has_next": bool},
    })


def paged(qs: QuerySet[Any], page: int, per_page: int, out: Any) -> dict[str, Any]:
    """One page, found by fetching one row more than shown (never counting a big table)."""
    start = (page - 1) * per_page
    rows = list(qs[start:start + per_page + 1])
    return {"items": [out(r) for r in rows[:per_page]], "page": page, "per_page": per_page,
            "has_next": len(rows) > per_page}


def address(request: Any) -> str | None:
    """The caller's address for the audit trail: the panel's own answer (hosting.clientaddress)."""
    return client_address(request)
