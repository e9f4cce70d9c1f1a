"""The rows, log lines and selects rendered in Python (for speed) say what the template versions
said, and escape every value that comes from a user or a program."""
from __future__ import annotations

import re

from django import forms
from django.contrib.auth import get_user_model
from django.urls import reverse

from hosting.templatetags.tasklog import log_lines
from hosting.templatetags.tasktable import task_rows
from hosting.views.tasklive import Line
from hosting.widgets import FastSelect
from tests.views.conftest import make_task

EVIL = '<script>alert("x")</script>&'


def test_task_rows_escape_what_users_and_programs_wrote(site):
    user = get_user_model().objects.create_user(EVIL[:30], "e@example.test", "pw-123456789")
    queued = make_task(site, "verify", "queued", by=user, waiting_reason=EVIL)
    running = make_task(site, "backup", "running", current_step=EVIL)
    running.target_label = EVIL
    html = str(task_rows({}, [queued, running], selectable=True, cancellable=[queued.pk]))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count("<tr>") == 2
    assert f'href="{reverse("task-detail", args=[queued.pk])}"' in html
    assert f'href="{reverse("site-detail", args=[site.pk])}"' in html
    assert f'value="{queued.pk}"' in html and f'value="{running.pk}"' not in html  # only the cancellable one
    assert 'class="badge s-queued">queued</span>' in html


def test_task_rows_say_so_when_there_are_none():
    assert "No tasks." in str(task_rows({}, []))
    assert 'colspan="8"' in str(task_rows({}, [], selectable=True))


def test_log_lines_escape_the_programs_output():
    html = str(log_lines([Line(1, "error", "2026-01-01T00:00:00+00:00", "exact", "00:00:00", EVIL)]))
    assert html == ('<div class="l-error"><time datetime="2026-01-01T00:00:00+00:00" title="exact">00:00:00</time>'
                    '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;</div>')


def test_fast_select_offers_and_selects_what_django_s_select_does():
    choices = [("", "any client"), (1, EVIL), (2, "globex")]

    class Slow(forms.Form):
        client = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=choices)

    class Fast(forms.Form):
        client = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=choices,
                                        widget=FastSelect)

    def options(html: str) -> list[tuple[str, bool, str]]:
        return re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', html)

    for data in ({}, {"client": "2"}, {"client": "nonsense"}):
        slow, fast = str(Slow(data)["client"]), str(Fast(data)["client"])
        assert options(fast) == options(slow)
        assert ('aria-invalid="true"' in fast) == ('aria-invalid="true"' in slow)
        assert "<script>" not in fast
