"""The JSON API at /api/v1/ (django-ninja): tokens, errors as {"code", "message"}, and the
routers of hosting.api.nodes and hosting.api.tasks. Scoping is hosting.access, as in the panel."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.renderers import JSONRenderer

from hosting.api.auth import ApiProblem, TokenAuth
from hosting.controls import ControlRefused
from hosting.inventory import InventoryError, QuotaRefused
from hosting.machine import JSONEncoder
from hosting.quotas import QuotaExceeded
from hosting.refused import TaskRefused
from hosting.starting import ArgumentsInvalid


class Renderer(JSONRenderer):
    # Times as hosting.machine writes them everywhere (UTC, microseconds), not Django's default
    # (milliseconds, and no fraction at all when it is zero).
    encoder_class = JSONEncoder


api = NinjaAPI(title="Harbormaster API", version="1", auth=TokenAuth(), urls_namespace="api",
               docs_url="/docs", renderer=Renderer(),
               description="Servers, platforms, sites, clients, backups and tasks. "
               "Authenticate with `Authorization: Bearer <token>` (tokens: /account/tokens/).")


def error(request: HttpRequest, status: int, code: str, message: str,
          headers: dict[str, str] | None = None) -> HttpResponse:
    response = api.create_response(request, {"code": code, "message": message}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@api.exception_handler(ApiProblem)
def _problem(request: HttpRequest, exc: ApiProblem) -> HttpResponse:
    return error(request, exc.status, exc.code, exc.message, exc.headers)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error(request, 401, "unauthenticated", "An API token is needed: Authorization: Bearer <token>.",
                 {"WWW-Authenticate": "Bearer"})


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    parts = []
    for item in exc.errors[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "payload"))
        parts.append(f"{where}: {item.get('msg', 'invalid')}" if where else str(item.get("msg", "invalid")))
    return error(request, 400, "bad_input", "; ".join(parts) or "Bad input.")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The same answer for "does not exist" and "not yours": nothing reveals another client's ids.
    return error(request, 404, "not_found", "Not found.")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error(request, 403, "forbidden", str(exc) or "You may not do this.")


@api.exception_handler(QuotaExceeded)
@api.exception_handler(QuotaRefused)
def _quota(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error(request, 409, "quota_exceeded", str(exc))


@api.exception_handler(TaskRefused)
def _refused(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error(request, 409, "conflict", str(exc))


@api.exception_handler(ControlRefused)
def _control_refused(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error(request, 409, "conflict", str(exc))


@api.exception_handler(ArgumentsInvalid)
def _arguments(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error(request, 400, "bad_input", str(exc))


@api.exception_handler(InventoryError)
def _inventory(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error(request, 400, "bad_input", str(exc))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error(request, exc.status_code, "error", str(exc))


def _register() -> None:
    from hosting.api import (
        admin_nodes,
        aegir,
        backups,
        cron,
        domains,
        gitbuild,
        https,
        logs,
        members,
        nodes,
        people,
        remotes,
        sync,
        tasks,
    )
    from hosting.api import batches as batch_api

    assert admin_nodes.router is nodes.router  # its operations join the nodes' paths
    api.add_router("/", gitbuild.router)  # before nodes: /platforms/build is not /platforms/{id}
    api.add_router("/", nodes.router)
    api.add_router("/", backups.router)
    api.add_router("/", members.router)
    api.add_router("/", people.router)
    api.add_router("/", tasks.router)
    api.add_router("/", domains.router)
    api.add_router("/", https.router)
    api.add_router("/", aegir.router)
    api.add_router("/", cron.router)
    api.add_router("/", sync.router)
    api.add_router("/", logs.router)
    api.add_router("/", batch_api.router)
    api.add_router("/", remotes.router)


_register()
