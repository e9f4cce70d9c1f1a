"""site.https: put a site's HTTPS mode in place, with a certificate from the ACME server.

certificate (off: nothing; otherwise the recorded certificate when it covers the site's names
and is good for more than RENEW_DAYS, else a new one by HTTP-01 into a new version directory;
undo: that directory removed) -> vhost (written with the TLS block, or without for off, tested
before reload and rolled back by the web server driver; undo: the vhost as the record says) ->
record (the site's mode and the Certificate row; older certificate versions removed).

A failed issuance changes nothing the site serves: the vhost step never runs, and the attempt
and its reason are recorded on the Certificate row. Args: {"mode": off|on|required, "hsts":
bool, "renew": bool (a new certificate even when the recorded one is good)}; without them the
site's recorded mode is applied (what a renewal does)."""
from __future__ import annotations

import datetime
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from hosting.engine.steps import Context, Plan
from hosting.models import Certificate, Site, Task
from hosting.operations import resources
from hosting.operations.common import flag, step
from hosting.operations.site_common import refuse_attention, site_of
from provision import certificates
from provision.errors import ProvisionError
from provision.uploaded import names_match as uploaded_match
from provision.web.tls_templates import TlsSpec

RENEW_DAYS = 30  # a certificate closer than this to its end is renewed


def acme_server() -> certificates.AcmeServer:
    return certificates.AcmeServer(settings.HARBORMASTER_ACME_DIRECTORY, settings.HARBORMASTER_ACME_CA_BUNDLE,
                                   settings.HARBORMASTER_ACME_EMAIL)


def _wanted(ctx: Context, site: Site) -> tuple[str, bool]:
    args: dict[str, Any] = ctx.task.args or {}
    mode = str(args.get("mode") or site.https_mode)
    if mode not in dict(Site.HTTPS_MODES):
        raise ProvisionError(f"{mode[:20]!r} is not an HTTPS mode (off, on or required).")
    return mode, bool(args.get("hsts", site.https_hsts))


def _good(cert: Certificate | None, names: list[str]) -> bool:
    if cert is None or not cert.issued or cert.expires_within(RENEW_DAYS):
        return False
    spec = Path(cert.path)
    return set(names) <= set(cert.domains) and (spec / "fullchain.pem").is_file() and (spec / "privkey.pem").is_file()


def _failed(ctx: Context, site: Site, outcome: str, not_before: datetime.datetime | None = None) -> None:
    """Record a failed attempt (the renewal schedule backs off by the count of failures, and
    waits for the ACME server's "not before" when it gave one)."""
    from django.db.models import F

    with ctx.recording():
        cert, _ = Certificate.objects.get_or_create(site=site)
        Certificate.objects.filter(pk=cert.pk).update(last_attempt_at=timezone.now(), last_ok=False,
                                                      last_outcome=outcome[:2000], failures=F("failures") + 1,
                                                      retry_not_before=not_before)


def _retry_note(site: Site, exc: ProvisionError) -> tuple[str, datetime.datetime | None]:
    """When the schedule tries again, said in the task's message (and its not-before time)."""
    from hosting.renewals import backoff

    cert = Certificate.objects.filter(site=site).first()
    failures = (cert.failures if cert else 0) + 1
    at = timezone.now() + backoff(failures)
    not_before = getattr(exc, "not_before", None)
    if not_before is not None and not_before > at:
        at = not_before
    note = (f" The ACME server asks to wait: retried not before {not_before:%Y-%m-%d %H:%M} UTC."
            if not_before is not None else "")
    return note + f" The renewal schedule tries again from {at:%Y-%m-%d %H:%M} UTC.", not_before


def _take_upload(ctx: Context, site: Site, token: str) -> None:
    """The user's own certificate, checked again here (the names may have changed since the
    upload), moved into a new version directory."""
    from provision import uploaded

    where = uploaded.staged_dir(resources.tls_dir(), token)
    if not uploaded.valid_token(token, site.pk):
        raise ProvisionError("The uploaded certificate is not this site's.", permanent=True)
    names = [site.domain, *[a for a in site.aliases if a != site.domain]]
    try:
        checked = uploaded.check_upload((where / "fullchain.pem").read_bytes(), (where / "privkey.pem").read_bytes(),
                                        names)
    except FileNotFoundError:
        raise ProvisionError("The uploaded certificate is no longer there (already applied, or removed); "
                             "upload it again.", permanent=True) from None
    except ProvisionError:
        uploaded.discard(resources.tls_dir(), token)
        raise
    version = uploaded.install(resources.tls_dir(), token, site.domain)
    flag(ctx, "new_version", str(version))
    ctx.state["version"] = str(version)
    ctx.state["issued"] = {"domains": list(checked.domains), "issuer": checked.issuer, "source": "uploaded",
                           "not_before": checked.not_before.isoformat(), "not_after": checked.not_after.isoformat()}
    ctx.save_state()
    ctx.info(f"Uploaded certificate issued by {checked.issuer} for {', '.join(checked.domains[:10])}, "
             f"valid until {checked.not_after:%Y-%m-%d %H:%M} UTC.")


def obtain(ctx: Context) -> None:
    site = site_of(ctx)
    if site.status not in (Site.ENABLED, Site.DISABLED):
        raise ProvisionError(f"{site.domain} is {site.status}; install or verify it first.")
    refuse_attention(site, ctx.task.kind)
    mode, hsts = _wanted(ctx, site)
    ctx.state.update(mode=mode, hsts=hsts)
    if mode == Site.HTTPS_OFF:
        ctx.info(f"HTTPS is off for {site.domain}: its vhost serves HTTP only.")
        return
    token = str((ctx.task.args or {}).get("upload") or "")
    if token:
        _take_upload(ctx, site, token)
        return
    names = [site.domain, *[a for a in site.aliases if a != site.domain]]
    cert = Certificate.objects.filter(site=site).first()
    if cert is not None and cert.uploaded and cert.issued and not (ctx.task.args or {}).get("renew") \
            and Path(cert.path).is_dir() and all(
                any(uploaded_match(p, n) for p in cert.domains) for n in names) \
            and not cert.expires_within(0):
        ctx.state["version"] = cert.path
        ctx.info(f"The uploaded certificate of {site.domain} (until {cert.not_after:%Y-%m-%d}) is kept.")
        return
    if _good(cert, names) and not (ctx.task.args or {}).get("renew"):
        assert cert is not None
        ctx.state["version"] = cert.path
        ctx.info(f"The certificate of {site.domain} (until {cert.not_after:%Y-%m-%d}) covers its names; kept.")
        return
    try:
        issued = certificates.issue(resources.tls_dir(), resources.challenge_dir(), acme_server(), names, ctx.info)
    except ProvisionError as exc:
        note, not_before = _retry_note(site, exc)
        _failed(ctx, site, str(exc) + note, not_before)
        raise ProvisionError(f"No certificate for {site.domain}: the site serves as before. {exc}{note}",
                             permanent=exc.permanent) from None
    flag(ctx, "new_version", str(issued.version))
    ctx.state["version"] = str(issued.version)
    ctx.state["issued"] = {"domains": list(issued.domains), "issuer": issued.issuer,
                           "not_before": issued.not_before.isoformat(), "not_after": issued.not_after.isoformat()}
    ctx.save_state()
    ctx.info(f"Certificate issued by {issued.issuer} for {', '.join(issued.domains)}, "
             f"valid until {issued.not_after:%Y-%m-%d %H:%M} UTC.")


def obtain_undo(ctx: Context) -> None:
    version = ctx.state.pop("new_version", None)
    if version:
        path = Path(version)
        if path.is_relative_to(resources.tls_dir() / "sites"):
            shutil.rmtree(path, ignore_errors=True)
        ctx.save_state()


def _spec(ctx: Context, site: Site) -> TlsSpec | None:
    if ctx.state.get("mode", Site.HTTPS_OFF) == Site.HTTPS_OFF or not ctx.state.get("version"):
        return None
    spec = resources.tls_spec(site, ctx.state["version"])
    return TlsSpec(spec.fullchain, spec.key, required=ctx.state["mode"] == Site.HTTPS_REQUIRED,
                   hsts=bool(ctx.state.get("hsts")))


def vhost(ctx: Context) -> None:
    site = site_of(ctx)
    web = resources.web_server(site.platform.server, ctx.runner)
    web.write_vhost(resources.site_vhost_spec(site, tls=_spec(ctx, site)))
    flag(ctx, "vhost_written")
    mode = ctx.state.get("mode")
    ctx.info({"off": f"{site.domain} is served over HTTP only.",
              "on": f"{site.domain} is served over HTTP and HTTPS.",
              "required": f"{site.domain} is served over HTTPS; HTTP redirects to it."}.get(str(mode), ""))


def vhost_undo(ctx: Context) -> None:
    if ctx.state.pop("vhost_written", False):
        site = site_of(ctx)
        web = resources.web_server(site.platform.server, ctx.runner)
        web.write_vhost(resources.site_vhost_spec(site))  # as recorded
        ctx.save_state()


def record(ctx: Context) -> None:
    site = site_of(ctx)
    mode, hsts = ctx.state.get("mode", site.https_mode), bool(ctx.state.get("hsts"))
    issued = ctx.state.get("issued")
    with ctx.recording():
        Site.objects.filter(pk=site.pk).update(https_mode=mode, https_hsts=hsts)
        if issued:
            source = issued.get("source", "acme")
            Certificate.objects.update_or_create(site=site, defaults={
                "domains": issued["domains"], "issuer": issued["issuer"], "source": source,
                "retry_not_before": None,
                "not_before": datetime.datetime.fromisoformat(issued["not_before"]),
                "not_after": datetime.datetime.fromisoformat(issued["not_after"]),
                "path": ctx.state["version"], "last_attempt_at": timezone.now(), "last_ok": True,
                "failures": 0, "last_outcome": (f"Uploaded; issued by {issued['issuer']}." if source == "uploaded"
                                                else f"Issued by {issued['issuer']}.")})
    if issued:
        ctx.state.pop("new_version", None)  # it is the site's certificate now: kept on any undo
        ctx.save_state()
        removed = certificates.remove_versions(resources.tls_dir(), site.domain, keep=[Path(ctx.state["version"])])
        if removed:
            ctx.info(f"{removed} older certificate(s) of {site.domain} removed.")


def https_plan(task: Task) -> Plan:
    return Plan([
        step("certificate", obtain, obtain_undo, label="Obtain a certificate (ACME HTTP-01) or take the uploaded one"),
        step("vhost", vhost, vhost_undo, label="Write the vhost with HTTPS, test and reload"),
        step("record", record, label="Record the HTTPS mode and the certificate"),
    ])
