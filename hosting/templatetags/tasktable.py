"""The rows of a task table, rendered in Python.

The same rows as a template loop gives (`hm`'s badge, ago and duration included), about ten
times faster: a page of 50 tasks cost some 12 ms in template variable lookups and `{% url %}`
tags, the largest part of the task list and the dashboard, which are the pages people keep open.
Every value from a task passes through html.escape."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape

from django import template
from django.template import Context
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from hosting import shown
from hosting.models import Task
from hosting.shown import Shown
from hosting.templatetags.hm import ago_html, badge_html, duration

register = template.Library()
_SAMPLE = 2147483646  # an id no URL pattern would take for anything else
_TARGETS = {"site": ("site-detail", "site_id"), "platform": ("platform-detail", "platform_id"),
            "server": ("server-detail", "server_id")}


class _Links:
    """Detail-page links, each URL pattern reversed once per table instead of once per row (the
    script prefix can differ between requests, so nothing is kept longer)."""

    def __init__(self) -> None:
        self.around: dict[str, tuple[str, str]] = {}

    def __call__(self, name: str, pk: int, text: str) -> str:
        if name not in self.around:
            head, _, tail = reverse(name, args=[_SAMPLE]).partition(str(_SAMPLE))
            self.around[name] = (escape(head), escape(tail))
        head, tail = self.around[name]
        return f'<a href="{head}{int(pk)}{tail}">{escape(text)}</a>'


def _row(task: Task, link: _Links, now: datetime, selectable: bool, allowed: set[int], hide_target: bool,
         show: Shown) -> str:
    cells: list[str] = []
    if selectable:
        box = (f'<input type="checkbox" name="ids" value="{task.pk}" form="bulk" aria-label="Select task {task.pk}">'
               if task.pk in allowed else "")
        cells.append(f'<td class="sel">{box}</td>')
    cells.append(f'<td data-label="#">{link("task-detail", task.pk, str(task.pk))}</td>')
    label = task.target_label
    phone = "" if hide_target else f'<div class="small phone">{escape(label)}</div>'
    cells.append(f'<td data-label="Task">{escape(task.type.label)}{phone}</td>')
    if not hide_target:
        name, field = _TARGETS.get(task.target_type, ("", ""))
        pk = getattr(task, field) if field else None
        target = link(name, pk, label) if pk else escape(label)
        if task.target_type != "site":
            target += f' <span class="tag">{escape(task.target_type)}</span>'
        cells.append(f'<td class="opt" data-label="Target">{target}</td>')
    note = (task.waiting_reason if task.state == Task.QUEUED else
            task.current_step if task.state == Task.RUNNING else "")
    note = f'<div class="small muted">{escape(show.text(note))}</div>' if note else ""
    cells.append(f'<td data-label="State">{badge_html(task.state)}{note}</td>')
    user = task.creator
    cells.append(f'<td class="opt" data-label="By">{escape(user)}</td>'
                 f'<td data-label="Created">{ago_html(task.created_at, now)}</td>'
                 f'<td class="opt num" data-label="Took">{escape(duration(task.duration))}</td>')
    return "<tr>\n" + "\n".join(cells) + "\n</tr>"


@register.simple_tag(takes_context=True)
def task_rows(context: Context, tasks: Iterable[Task], selectable: bool = False, cancellable: Iterable[int] = (),
              hide_target: bool = False) -> SafeString:
    """One <tr> per task (the task list's columns); an empty table says so."""
    allowed = set(cancellable or ())
    link = _Links()
    now = timezone.now()
    request = context.get("request")
    # What a waiting task waits for, as the reader may see it (hosting.shown).
    show = shown.for_user(getattr(request, "user", None))
    rows = [_row(task, link, now, selectable, allowed, hide_target, show) for task in tasks]
    if not rows:
        rows.append(f'<tr><td colspan="{8 if selectable else 7}" class="muted">No tasks.</td></tr>')
    return mark_safe("".join(rows))  # noqa: S308 - every value above went through escape()
