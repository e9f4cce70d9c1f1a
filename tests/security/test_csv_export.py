"""CSV exports: a formula guard that quotes what a spreadsheet would run, and nothing else."""
from __future__ import annotations

import csv
import io
from io import StringIO

from django.core.management import call_command
from django.urls import reverse

from hosting import audit
from hosting.csvsafe import csv_safe
from hosting.models import Task
from tests.security.interfaces_cast import *  # noqa: F401,F403
from tests.views.conftest import make_task


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _cli_export(tmp_path) -> str:
    path = tmp_path / "tasks.csv"
    call_command("tasks", "export", "--csv", str(path), stdout=StringIO(), stderr=StringIO())
    return path.read_text(encoding="utf-8")


def test_it_leaves_empty_cells_of_the_command_lines_export_empty(site, tmp_path):
    # A queued task has no user, no start, no end and no duration: four empty cells.
    task = make_task(site, "backup", Task.QUEUED)
    row = _rows(_cli_export(tmp_path))[1]
    assert row[0] == str(task.pk)
    assert [row[4], *row[6:]] == ["", "", "", ""]


def test_it_quotes_formulas_in_every_export_alike(as_admin, django_user_model, site, tmp_path):
    evil = django_user_model.objects.create_user("=HYPERLINK(1)", password="x-pass-1234")
    make_task(site, "backup", Task.QUEUED, by=evil)
    audit.record(evil, "site.note", site, detail="-2+3")
    cli = _rows(_cli_export(tmp_path))[1]
    panel = _rows(b"".join(as_admin.get(reverse("task-export")).streaming_content).decode())[1]
    assert cli[4] == panel[4] == "'=HYPERLINK(1)"
    assert panel[6:] == ["", "", ""] and cli[6:] == ["", "", ""]
    # One writer: the panel's export and the command line's are the same rows.
    assert panel == cli
    events = _rows(b"".join(as_admin.get(reverse("audit-export")).streaming_content).decode())
    note = next(r for r in events if r[2] == "site.note")
    assert note[1] == "'=HYPERLINK(1)" and note[8] == "'-2+3" and note[7] == ""


def test_it_guards_only_a_first_character_that_starts_a_formula():
    assert [csv_safe(v) for v in ("", "a=b", "=1", "+1", "-1", "@x", "\tx", "\rx", 7, None)] == \
        ["", "a=b", "'=1", "'+1", "'-1", "'@x", "'\tx", "'\rx", 7, None]
