"""Hostile values in every parameter of every panel route and API operation, as an admin (who
reaches every code path): no answer may be a server error.

The panel's parameters are found by watching what each view reads: a first request records
every key asked of request.GET and request.POST (forms read their fields the same way), and
the hostile values then go into each of those keys. The API's come from its OpenAPI schema.
Run on PostgreSQL too: it refuses NUL characters and out-of-range integers that SQLite takes.
There (the PostgreSQL pass) only the values a database engine reads in its own way are tried,
each value alone: the others are refused or taken by Python (int(), forms, ninja) before any
query, the same code whatever the control database, and the SQLite pass tries them all."""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.http import QueryDict
from django.test import Client as HttpClient
from django.urls import URLPattern, URLResolver, reverse
from django.utils.datastructures import MultiValueDict

from hosting import urls
from hosting.api import api
from tests.security.interfaces_cast import *  # noqa: F401,F403
from tests.tenancy.conftest import api_client

# Integer-like strings that Python's int() or str.isdigit() take but a strict parser must not,
# numbers past every column's range, signs, NUL bytes, long strings, markup and paths.
HOSTILE = [
    "\u00b2", "\u0663", "\uff11", "1\u00b2", "\u2167", " 1 ", "1_000", "+1", "-1", "0", "1e3", "0x10", "NaN",
    "99999999999999999999", "9" * 5000, "-9223372036854775809", "9223372036854775808",
    "\x00", "1\x00", "a\x00b", "x" * 100_000, "", "%", "../../etc/passwd", "<script>x</script>",
    "\ufffd", "ｂｍｇｒ", "\u202e", "[]", "{}", "null",
]
# What a database engine itself refuses or reads in its own way: NUL characters (PostgreSQL
# refuses them in text), integers past a column's range, text past a varchar's length (PostgreSQL
# enforces it, SQLite does not), LIKE's wildcard, "NaN" (PostgreSQL's numeric takes it), text
# that is not ASCII, and the small integers that reach a query as ids.
ENGINE_HOSTILE = [
    "-1", "0", "99999999999999999999", "9" * 5000, "-9223372036854775809", "9223372036854775808",
    "\x00", "1\x00", "a\x00b", "x" * 100_000, "", "%", "NaN", "ｂｍｇｒ",
]
assert all(value in HOSTILE for value in ENGINE_HOSTILE)


def hostile(every: list[Any], engine: list[Any]) -> list[Any]:
    """EVERY on SQLite; on another control database ENGINE (see the module's docstring)."""
    return every if connection.vendor == "sqlite" else engine


def forms(keys: list[str], value: str) -> list[dict[str, Any]]:
    """VALUE in every key, and as the first of two values in every key (for getlist(), read by
    Python alike on every control database: SQLite only)."""
    single = {k: value for k in keys}
    return [single, {k: [value, "1"] for k in keys}] if connection.vendor == "sqlite" else [single]


# Keys every list reads or that a view may read only when another is set.
ALWAYS = {"page", "q", "part", "new", "watch", "after"}
# Routes whose POST ends the session, or whose words in the path are not objects.
WORDS = {"kind": {"site-task": "backup", "platform-task": "verify", "server-task": "verify"}, "action": "retry",
         "token": "not-an-invitation-token", "uidb64": "MQ"}


class Reads(set[str]):
    """The keys a view read; `lists` when it read some as lists (getlist(), or all of them through
    lists(), which copy() and urlencode() use): only then can a second value reach it."""

    lists = False


@contextmanager
def watching_reads():
    """Record every key a view asks of a QueryDict (GET, POST and the forms bound to them). The
    methods live on MultiValueDict, which the URL resolver uses too: only QueryDicts count."""
    seen = Reads()
    originals = {name: getattr(MultiValueDict, name)
                 for name in ("get", "getlist", "__getitem__", "__contains__", "lists")}

    def spy(name):
        original = originals[name]

        def read(self, *args, **kwargs):
            if isinstance(self, QueryDict):
                if args and isinstance(args[0], str):
                    seen.add(args[0])
                if name in ("getlist", "lists"):
                    seen.lists = True
            return original(self, *args, **kwargs)
        return read

    for name in originals:
        setattr(MultiValueDict, name, spy(name))
    try:
        yield seen
    finally:
        for name, original in originals.items():
            setattr(MultiValueDict, name, original)


def panel_routes(objects: dict[str, int]) -> list[tuple[str, str]]:
    found = []
    for entry in urls.urlpatterns:
        if isinstance(entry, URLResolver):
            continue  # the API is fuzzed below; Django's admin is Django's
        assert isinstance(entry, URLPattern)
        kwargs = {}
        for param in entry.pattern.converters:
            word = WORDS.get(param)
            kwargs[param] = (word[entry.name] if isinstance(word, dict) else word) if word else objects[param]
        found.append((entry.name, reverse(entry.name, kwargs=kwargs)))
    return found


def _server_error(response, name: str = "") -> bool:
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)  # a streamed answer fails while it is read
    # /status.json answers 503 when a service is down (here: no worker cluster): by design.
    return response.status_code >= 500 and not (name == "status-json" and response.status_code == 503)


def admin_request(client: HttpClient, admin_user: Any, method: str, url: str, data: dict[str, Any]) -> Any:
    """The request, logged in as the admin: again (and the request again) only when the session
    was ended (logout, or sent to the login page), since a login per request was a fifth of the
    time of the panel's fuzz."""
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    if cookie is None or not cookie.value:
        client.force_login(admin_user)
    response = getattr(client, method)(url, data)
    if response.status_code == 302 and response["Location"].startswith(reverse(settings.LOGIN_URL)):
        client.force_login(admin_user)
        response = getattr(client, method)(url, data)
    return response


def test_it_answers_hostile_panel_parameters_without_a_server_error(world, admin_user):
    client = HttpClient(raise_request_exception=False)
    problems: list[str] = []
    routes = panel_routes(world["objects"]["acme"])
    for name, url in routes:
        methods = ["get"] if name == "logout" else ["get", "post"]
        for method in methods:
            client.force_login(admin_user)
            with watching_reads() as seen:
                getattr(client, method)(url)
            keys = sorted((seen | ALWAYS) - {"csrfmiddlewaretoken"})
            for position, value in enumerate(hostile(HOSTILE, ENGINE_HOSTILE)):
                with watching_reads() as read:
                    response = admin_request(client, admin_user, method, url, {k: value for k in keys})
                # Two values in every key: a view that reads none as a list gets "1" everywhere,
                # the same request for every value, so it is sent once (SQLite only: Python reads it).
                if connection.vendor == "sqlite" and not _server_error(response, name) and (
                        seen.lists or read.lists or position == 0):
                    response = admin_request(client, admin_user, method, url, {k: [value, "1"] for k in keys})
                if _server_error(response, name):
                    problems.append(f"{method.upper()} {url} ({name}) {keys} = {value[:20]!r}: "
                                    f"{response.status_code}")
    assert not problems, "\n".join(problems[:40])


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = api.get_openapi_schema()
    return [(method, path, op) for path, item in schema["paths"].items() for method, op in item.items()]


def _body_properties(op: dict[str, Any]) -> list[str]:
    ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    if not ref:
        return []
    component = api.get_openapi_schema()["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return list(component.get("properties", {}))


API_HOSTILE: list[Any] = [*HOSTILE, -1, 0, 2**63, 2**64, -(2**63) - 1, 10**30, 1.5, True, None, [], [1, 2], {},
                          {"a": 1}]
API_ENGINE_HOSTILE: list[Any] = [*ENGINE_HOSTILE, -1, 0, 2**63, 2**64, -(2**63) - 1, 10**30, 1.5]


def test_it_answers_hostile_api_parameters_without_a_server_error(world, settings):
    settings.HARBORMASTER_API_RATE = (1_000_000, 60)
    token = api_client(world["users"]["admin"], "write", name="fuzz")
    client = HttpClient(raise_request_exception=False, HTTP_AUTHORIZATION=token.defaults["HTTP_AUTHORIZATION"])
    objects = world["objects"]["acme"]
    problems: list[str] = []
    for method, path, op in _operations():
        params = [p for p in op.get("parameters", []) if p["in"] in ("query", "path")]
        body = _body_properties(op)
        for value in hostile(API_HOSTILE, API_ENGINE_HOSTILE):
            text = value if isinstance(value, str) else json.dumps(value)
            if "\x00" in text and any(p["in"] == "path" for p in params):
                text = text.replace("\x00", "%00")
            for target in [*params, *({"name": b, "in": "body"} for b in body)]:
                url = path
                for p in params:
                    fill = text if p is target else str(objects.get(p["name"], 1))
                    url = url.replace("{" + p["name"] + "}", fill if p["in"] == "path" else "")
                query = {target["name"]: text} if target["in"] == "query" else {}
                payload = {"type": "verify", target["name"]: value} if target["in"] == "body" else {"type": "verify"}
                try:
                    if method == "get":
                        response = client.get(url, query)
                    else:
                        response = client.generic(method.upper(), url + ("?" + _qs(query) if query else ""),
                                                  json.dumps(payload), content_type="application/json")
                except (ValueError, UnicodeError) as exc:  # the test client cannot send it: skip
                    if "\x00" in text or "%" in url:
                        continue
                    raise AssertionError(f"{method} {url}: {exc}") from exc
                if _server_error(response):
                    problems.append(f"{method.upper()} {path} {target['in']}:{target['name']} = {text[:20]!r}: "
                                    f"{response.status_code}")
    assert not problems, "\n".join(problems[:40])


def _qs(query: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(query)


DIGITS = {"arabic-indic": 0x0660, "fullwidth": 0xFF10, "devanagari": 0x0966}


@pytest.mark.parametrize("script", DIGITS)
def test_it_cancels_nothing_for_an_id_in_other_digits(as_admin, site, script):
    """int() reads "٤٢" as 42: the task whose id it spells must stay queued."""
    from hosting.models import Task
    from tests.views.conftest import make_task

    task = make_task(site, "backup", Task.QUEUED)
    spelled = "".join(chr(DIGITS[script] + int(d)) for d in str(task.pk))
    response = as_admin.post(reverse("task-bulk-cancel"), {"ids": [spelled, "\u00b2"]})
    assert response.status_code == 302
    assert Task.objects.get(pk=task.pk).state == Task.QUEUED


def test_it_answers_hostile_sign_ups_on_an_invitation_without_a_server_error(acme, manager):
    """The one public form that writes: the accept page of a valid invitation, anonymous."""
    from hosting import invitations

    problems = []
    for value in hostile(HOSTILE, ENGINE_HOSTILE):
        _invitation, token = invitations.invite(acme, "someone@example.test", "member", by=manager, send=False)
        url = reverse("invitation-accept", args=[token])
        for data in forms(["username", "password1", "password2"], value):
            response = HttpClient(raise_request_exception=False).post(url, data)
            if _server_error(response):
                problems.append(f"POST {url} = {value[:20]!r}: {response.status_code}")
    assert not problems, "\n".join(problems)
