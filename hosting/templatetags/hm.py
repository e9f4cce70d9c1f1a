"""Small template helpers: relative times with the exact time on hover, state badges."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


def ago_text(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = int(((now or timezone.now()) - value).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 5:
        return "just now"
    if seconds < 60:
        text = f"{seconds} s"
    elif seconds < 3600:
        text = f"{seconds // 60} min"
    elif seconds < 86400:
        text = f"{seconds // 3600} h"
    else:
        text = f"{seconds // 86400} d"
    return f"in {text}" if future else f"{text} ago"


def ago_html(value: datetime | None, now: datetime | None = None) -> str:
    """ago_text in a <time> element with the exact time on hover (HTML, escaped)."""
    if value is None:
        return '<span class="muted">never</span>'
    exact = timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
    return f'<time datetime="{escape(value.isoformat())}" title="{escape(exact)}">{escape(ago_text(value, now))}</time>'


@register.filter
def ago(value: datetime | None):
    return mark_safe(ago_html(value))


@register.filter
def duration(value: timedelta | None) -> str:
    if value is None:
        return "–"
    seconds = value.total_seconds()
    if seconds < 0.1:
        return "< 0.1 s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def badge_html(state: str) -> str:
    return f'<span class="badge s-{escape(str(state))}">{escape(str(state).replace("-", " "))}</span>'


@register.filter
def badge(state: str):
    return mark_safe(badge_html(state))


@register.filter
def shown(value: str, internals: bool) -> str:
    """VALUE as the reader may see it: paths rewritten for client members (hosting.shown)."""
    from hosting.shown import Shown

    return Shown(bool(internals)).text(str(value or ""))


@register.filter
def refused_groups(buttons: list[Any], conflict: str) -> list[tuple[str, list[Any]]]:
    """The refused buttons (but those refused for CONFLICT, said once above them) grouped by
    reason, in their order: a failed install's reason is said once for the seven buttons it
    refuses, not once per button."""
    groups: dict[str, list[Any]] = {}
    for b in buttons:
        if b.reason and b.reason != conflict:
            groups.setdefault(b.reason, []).append(b)
    return list(groups.items())
