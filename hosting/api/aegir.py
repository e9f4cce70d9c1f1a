"""POST /api/v1/aegir-import: the plan of importing an Aegir 3 installation (administrators),
recorded when dry_run is false. The same plan and records as `manage.py import_aegir`."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from hosting import access
from hosting.aegir import directory as aegir_directory
from hosting.aegir import plan as aegir_plan
from hosting.aegir.record import run
from hosting.aegir.show import as_data
from hosting.api.common import Id, address, responses
from hosting.inventory import local_server

router = Router()


class AegirImportIn(Schema):
    directory: str
    dry_run: bool = True
    server: Id | None = None


@router.post("/aegir-import", response=responses(dict), tags=["platforms"])
def aegir_import(request: HttpRequest, payload: AegirImportIn) -> dict[str, Any]:
    """The plan of importing the Aegir contexts in DIRECTORY (inside the roots); with dry_run false,
    recorded, and a verify queued for every platform and site imported."""
    access.require_admin(request.user)
    path = aegir_directory(payload.directory)
    server = access.access_server(request.user, payload.server) if payload.server else local_server()
    if payload.dry_run:
        return as_data(aegir_plan.build(path, server))
    outcome = run(path, server, by=request.user, address=address(request))
    return {**as_data(outcome.plan), "counts": outcome.counts(), "tasks": [t.pk for t in outcome.tasks]}
