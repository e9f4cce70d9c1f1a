"""Which platform can take a site: the modules and themes the site uses (its last verify's drush
pm:list) against those the platform carries (its last verify's package list). Asked by the
migrate form (single and batch) and again by the migrate's first step, on the records as they
are when it runs."""
from __future__ import annotations

from hosting.models import Platform, Site
from provision.packages import missing_or_older

SHOWN = 10


def _names(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def migrate_refusal(site: Site, platform: Platform) -> str:
    """Why SITE cannot move to PLATFORM for its code ("" when it can, or when either list is not
    known yet: a verify of each records them)."""
    if not site.packages or not platform.packages:
        return ""
    missing, downgrades = missing_or_older(site.packages, platform.packages)
    reasons = []
    if missing:
        reasons.append(f"lacks {_names(missing)}, which {site.domain} uses")
    if downgrades:
        reasons.append(f"has older versions ({_names(downgrades)})")
    return f"Platform {platform.name} {' and '.join(reasons)}." if reasons else ""
