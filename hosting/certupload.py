"""A site's own certificate and key (PEM) as the alternative to the ACME server's: checked
(provision.uploaded.check_upload) before anything is written, staged 0600 under the TLS
directory, then applied by the site's https task (hosting.operations.site_https), started
through hosting.starting.start_task like every task. The panel's upload page, `POST
/api/v1/sites/{id}/https/upload` and `manage.py site https --certificate --key` all call
`start_upload`. The PEM text is never logged, stored in a task's arguments or shown again."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from hosting import starting
from hosting.models import Site, Task
from hosting.operations import resources
from provision import uploaded
from provision.errors import ProvisionError

MAX_BYTES = uploaded.MAX_BYTES


class UploadRefused(Exception):
    """The certificate or key is not acceptable for the site; nothing was written."""


def site_names(site: Site) -> list[str]:
    return [site.domain, *[a for a in site.aliases if a != site.domain]]


def start_upload(by: Any, site: Site, chain: bytes, key: bytes, *, mode: str = Site.HTTPS_ON, hsts: bool = False,
                 address: str | None = None) -> Task:
    """Check CHAIN and KEY for SITE, stage them and start its https task with them. Raises
    UploadRefused (bad certificate or key), PermissionDenied, or what start_task raises; in every
    case nothing is left behind."""
    if not starting.may_start(by, site, "https"):
        raise PermissionDenied("You may not change this site's HTTPS.")
    if mode not in (Site.HTTPS_ON, Site.HTTPS_REQUIRED):
        raise UploadRefused("An uploaded certificate needs HTTPS on or required.")
    try:
        checked = uploaded.check_upload(chain, key, site_names(site))
    except ProvisionError as exc:
        raise UploadRefused(str(exc)) from None
    tls = resources.tls_dir()
    token = uploaded.stage(tls, checked, site.pk)
    try:
        return starting.start_task(by, site, "https", {"mode": mode, "hsts": hsts, "upload": token},
                                   address=address)
    except BaseException:
        uploaded.discard(tls, token)
        raise
