"""The site list's filters, shared by the panel's list and the API's: the same words find the
same sites in both."""
from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from hosting import access
from hosting.models import Site


def sites_matching(user: Any, *, q: str = "", status: str = "", platform: int | None = None,
                   client: int | None = None, attention: bool = False) -> QuerySet[Site]:
    """The sites USER may see (hosting.access) whose domain contains Q, with STATUS (a status that
    is not one is no filter), on PLATFORM, of CLIENT, needing attention. Unordered."""
    sites = access.sites(user)
    if q:
        sites = sites.filter(domain__icontains=q.lower())
    if status in dict(Site.STATUSES):
        sites = sites.filter(status=status)
    if platform:
        sites = sites.filter(platform_id=platform)
    if client:
        sites = sites.filter(client_id=client)
    if attention:
        sites = sites.exclude(attention="")
    return sites
