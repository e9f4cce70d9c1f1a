"""A site's web server logs in the API (hosting.sitelogs): GET /sites/{id}/logs?log=access|error
&lines=N&grep=TEXT&status=404|5xx, the end of the file as a list of lines (cut, control
characters removed; still untrusted text). Whoever sees the site reads them; another client's
site is 404; the file's path only for administrators. A log this host cannot read is a 409."""
from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from hosting import access, sitelogs
from hosting.api.common import Id, responses

router = Router()


class SiteLogOut(Schema):
    kind: str
    lines: list[str]
    exists: bool      # false: no file yet (the site has had no request since its vhost was written)
    truncated: bool   # the byte cap was reached before LINES lines matched
    path: str | None = None  # administrators only


@router.get("/sites/{site_id}/logs", response=responses(SiteLogOut), tags=["sites"])
def get_site_logs(request: HttpRequest, site_id: Id, log: str = "access", lines: int = 100, grep: str = "",
                  status: str = ""):
    """The last LINES lines (at most 1000) of the site's access or error log, filtered by text
    and, for the access log, by status code or class."""
    from hosting.api import error

    site = access.access_site(request.user, site_id)
    try:
        found = sitelogs.read(site, log, lines=sitelogs.parse_lines(lines), grep=grep, status=status)
    except ValueError as exc:
        return error(request, 400, "bad_input", str(exc))
    except sitelogs.LogUnavailable as exc:
        return error(request, 409, "unavailable", str(exc))
    return found.as_json(with_path=access.is_admin(request.user))
