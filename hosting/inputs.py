"""Strict reading of what a request carries: integers are ASCII digits within the columns' range,
search text is bounded, and no parameter may hold a NUL character. Shared by the panel's views,
its forms and the API, so that a hostile value gets a clear 400 or is ignored, never a 500.

Why not int(): Python reads "٣" (Arabic-Indic three), "１" (fullwidth one), "1_000", " +1 " as
numbers, and str.isdigit() says yes to "²", which int() then refuses. Ids are typed by people and
scripts in ASCII; anything else is not an id."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

# SQLite and PostgreSQL ids are 64-bit signed; a bigger number is simply not found.
MAX_ID = 2**63 - 1
# Pages of lists: past this nobody browses, and the offset stays far from any overflow.
MAX_PAGE = 100_000
# Search boxes: longer text matches nothing useful and makes LIKE patterns expensive
# (SQLite refuses patterns over 50,000 bytes).
MAX_SEARCH = 253  # the longest domain name
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_int(value: Any, *, maximum: int = MAX_ID) -> int | None:
    """VALUE as a non-negative integer when it is 1-19 ASCII digits not above MAXIMUM, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= maximum else None
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if number <= maximum else None


def search_text(value: Any) -> str:
    """A search box's text: stripped, at most MAX_SEARCH characters."""
    return str(value or "").strip()[:MAX_SEARCH]


class IdField(forms.IntegerField):
    """An object id in a form: ASCII digits only, 1 to MAX_ID."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        number = parse_int(value.strip() if isinstance(value, str) else value)
        if number is None:
            raise forms.ValidationError("Enter an id: digits 0-9 only.", code="invalid")
        return number


_SIGNED = re.compile(r"-?[0-9]{1,19}")


def api_integer(value: Any) -> Any:
    """The API's integers as they come (path, query, JSON): a string must be plain ASCII digits
    (with a minus sign at most); a number passes on to the schema's own range check."""
    if isinstance(value, str) and not _SIGNED.fullmatch(value):
        raise ValueError("expected digits 0-9 only")
    return value


# --- NUL characters -------------------------------------------------------------------------
# No parameter of the panel or the API has a use for NUL, PostgreSQL refuses it in every text
# column and query, and Django's forms refuse it field by field. One check here covers the
# views that read the request themselves and every API schema, present and future.

def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def has_nul(request: HttpRequest) -> bool:
    if any(_holds_nul(key) or _holds_nul(values) for key, values in request.GET.lists()):
        return True
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    # The body first: once request.POST has read the stream, the API could not read the body
    # (Django keeps it when it is read first, and parses POST from the copy). The panel takes no
    # uploads, so the body is small (DATA_UPLOAD_MAX_MEMORY_SIZE holds it).
    body = request.body
    if request.content_type == "application/json":
        if b"\x00" in body:
            return True
        if b"\\u0000" in body:
            try:
                return _holds_nul(json.loads(body))
            except ValueError:
                return False  # not JSON: the API says so itself
        return False
    return any(_holds_nul(key) or _holds_nul(values) for key, values in request.POST.lists())


def refuse_nul_characters(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Middleware: a request with a NUL character in any parameter is answered 400."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if has_nul(request):
            message = "A parameter holds a NUL character."
            if request.path.startswith("/api/"):
                return JsonResponse({"code": "bad_input", "message": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return get_response(request)

    return middleware
