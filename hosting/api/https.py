"""A site's HTTPS: read its mode and certificate; change the mode (a site.https task, started
through hosting.starting as every task is: the role rule, the refusals (409), the HttpsForm)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from hosting import access
from hosting.api.common import Id, address, responses
from hosting.api.tasks import TaskOut, start_site_task, task_out
from hosting.models import Certificate, Site

router = Router()


class CertificateOut(Schema):
    domains: list[str]
    issuer: str
    source: str  # "acme" or "uploaded"
    retry_not_before: datetime | None  # the ACME server's rate limit: no attempt before this
    not_before: datetime | None
    not_after: datetime | None
    last_attempt_at: datetime | None
    last_ok: bool
    last_outcome: str


class HttpsOut(Schema):
    mode: str
    hsts: bool
    certificate: CertificateOut | None


class HttpsIn(Schema):
    mode: Literal["off", "on", "required"]
    hsts: bool = False
    renew: bool = False


def https_out(site: Site) -> dict[str, Any]:
    cert = Certificate.objects.filter(site=site).first()
    return {"mode": site.https_mode, "hsts": site.https_hsts, "certificate": None if cert is None else {
        "domains": cert.domains, "issuer": cert.issuer, "source": cert.source or "acme",
        "retry_not_before": cert.retry_not_before, "not_before": cert.not_before, "not_after": cert.not_after,
        "last_attempt_at": cert.last_attempt_at, "last_ok": cert.last_ok, "last_outcome": cert.last_outcome}}


@router.get("/sites/{site_id}/https", response=responses(HttpsOut), tags=["sites"])
def site_https(request: HttpRequest, site_id: Id):
    """The site's HTTPS mode, and its certificate with the last issuance or renewal attempt."""
    return https_out(access.access_site(request.user, site_id))


@router.patch("/sites/{site_id}/https", response=responses(TaskOut, 202), tags=["sites"])
def change_site_https(request: HttpRequest, site_id: Id, payload: HttpsIn):
    """Queue the site's https task with the new mode (a certificate is obtained first; if none
    can be had, the site keeps serving as it does). The answer is the queued task."""
    data = {"mode": payload.mode, "hsts": payload.hsts, "renew": payload.renew}
    return Status(202, task_out(start_site_task(request, site_id, "https", data)))


class UploadIn(Schema):
    certificate: str = Field(max_length=256 * 1024, description="PEM chain: the site's certificate first, "
                             "then each issuer in turn")
    key: str = Field(max_length=256 * 1024, description="PEM private key, without a passphrase")
    mode: Literal["on", "required"] = "on"
    hsts: bool = False


@router.post("/sites/{site_id}/https/upload", response=responses(TaskOut, 202), tags=["sites"])
def upload_site_certificate(request: HttpRequest, site_id: Id, payload: UploadIn):
    """Serve the site with your own certificate instead of the ACME server's: checked first (the
    key is the certificate's, each certificate signed by the next, the site's domain and aliases
    covered, valid now), then applied by the site's https task. 400 with the reason, nothing
    written, when it is not acceptable. The key is never shown again; the schedule does not
    renew an uploaded certificate (the dashboard and ping warn before it expires)."""
    from hosting.api.auth import ApiProblem
    from hosting.certupload import UploadRefused, start_upload

    site = access.site_for_action(request.user, site_id, "https")
    try:
        task = start_upload(request.user, site, payload.certificate.encode(), payload.key.encode(),
                            mode=payload.mode, hsts=payload.hsts, address=address(request))
    except UploadRefused as exc:
        raise ApiProblem(str(exc)) from None
    return Status(202, task_out(task))
