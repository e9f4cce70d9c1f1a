"""A worker that lost its task writes no record (issue 13, item 2, the step side).

Before: the run's own rows (state, steps, log) were fenced, but the records its steps write were
not: a stalled worker that went on after a reaper took its task over still recorded a backup,
disk figures, "verified", an imported site, a set-aside copy, a site's new platform or status.
Now every record a step writes goes through TaskContext.recording(), which writes only while
the run owns the task (checked under the task's row lock, in the same transaction)."""
from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hosting.actions import queue_task
from hosting.engine.claim import claim
from hosting.engine.context import Lost, TaskContext
from hosting.engine.owner import Owner
from hosting.engine.tasklog import TaskLogWriter
from hosting.models import AuditEvent, Backup, Lock, Platform, Server, Site, Task
from hosting.operations import (
    ownership,
    platform_delete,
    platform_sites,
    site_backup,
    site_clone,
    site_common,
    site_delete,
    site_install,
    site_migrate,
    site_state,
    site_verify,
)
from hosting.operations import (
    platform as platform_ops,
)
from hosting.operations import (
    server as server_ops,
)
from provision.platform import DiscoveredSite
from provision.runner import Runner
from provision.settings_php import DatabaseSettings

ELSEWHERE = Owner("another-host", 777, 5.0)


@pytest.fixture
def world(transactional_db, hm_dirs, server, acme, tmp_path: Path) -> dict[str, Any]:
    roots = [tmp_path / name for name in ("p1", "p2")]
    for root in roots:
        (root / "sites").mkdir(parents=True)
    p1, p2 = (Platform.objects.create(name=r.name, server=server, path=str(r), docroot=str(r), status="enabled")
              for r in roots)
    site = Site.objects.create(domain="www.acme.test", platform=p1, client=acme, status="enabled",
                               attention_platform=p2)
    (roots[0] / "sites" / site.domain).mkdir()
    backup = Backup.objects.create(site=site, domain=site.domain, path=str(tmp_path / "b.tar"))
    return {"server": server, "p1": p1, "p2": p2, "site": site, "backup": backup, "dir": roots[0] / "sites"}


def fenced(world: dict[str, Any], state: dict[str, Any]) -> TaskContext:
    """The context of a run whose task a reaper handed to another worker."""
    owner = Owner.current()
    task = claim(queue_task(world["site"], "verify").pk, owner)
    assert task is not None
    ctx = TaskContext(task, Runner(lambda _l, _t: None), TaskLogWriter(task.pk, owner), owner=owner)
    ctx.state.update(state)
    Task.objects.filter(pk=task.pk).update(**ELSEWHERE.fields())
    return ctx


def records() -> tuple:
    return tuple(list(model.objects.order_by("pk").values()) for model in
                 (Site, Backup, Lock, AuditEvent, Platform, Server, Task))


def _site(ctx):  # noqa: ANN001, ANN202
    return site_common.site_of(ctx)


WRITES: dict[str, tuple[Callable[[TaskContext, dict[str, Any]], object], Callable[[dict[str, Any]], dict]]] = {
    "record_backup": (lambda ctx, w: site_common.record_backup(ctx, w["site"], "manual", Path("/x.tar"), 1, "", {}),
                      lambda w: {}),
    "measure": (lambda ctx, w: site_common.measure(ctx, w["site"], None), lambda w: {}),
    "mark_verified": (lambda ctx, w: site_common.mark_verified(ctx, w["site"]), lambda w: {}),
    "needs_attention": (lambda ctx, w: site_common.needs_attention(ctx, w["site"], ownership.Problem("why")),
                        lambda w: {}),
    "import": (lambda ctx, w: platform_sites.import_site(
        ctx, w["p2"], DiscoveredSite("new.acme.test", w["dir"] / "new.acme.test", None, "unreadable")), lambda w: {}),
    "import-with-database": (lambda ctx, w: platform_sites.import_site(ctx, w["p2"], DiscoveredSite(
        "new.acme.test", w["dir"] / "new.acme.test", DatabaseSettings(driver="sqlite", database="/nowhere/x"))),
        lambda w: {}),
    "reserve-database": (lambda ctx, w: ownership.reserve(ctx, w["server"], "theirs"), lambda w: {}),
    "follow-moved-site": (lambda ctx, w: platform_sites._follow(ctx, w["p2"], w["site"]), lambda w: {}),
    "set_aside": (lambda ctx, w: site_verify.set_aside(ctx, _site(ctx), w["p2"].pk), lambda w: {}),
    "verify-record": (lambda ctx, w: site_verify.record(ctx, _site(ctx)),
                      lambda w: {"site_dir": str(w["dir"] / "www.acme.test"), "db_bytes": 5}),
    "install-record": (lambda ctx, w: site_install.record(ctx),
                       lambda w: {"site_dir": str(w["dir"] / "www.acme.test"), "db_name": "a", "db_user": "a"}),
    "install-undo": (lambda ctx, w: site_install.record_undo(ctx), lambda w: {"status_before": "failed"}),
    "clone-record": (lambda ctx, w: site_clone.record(ctx), lambda w: {
        "domain": "clone.acme.test", "new_platform": w["p1"].pk, "db_name": "c", "db_user": "c",
        "target": str(w["dir"] / "www.acme.test")}),
    "delete-record": (lambda ctx, w: site_delete.record(ctx), lambda w: {}),
    "migrate-record": (lambda ctx, w: site_migrate.record(ctx), lambda w: {"new_platform": w["p2"].pk}),
    "migrate-undo": (lambda ctx, w: site_migrate.record_undo(ctx),
                     lambda w: {"recorded": True, "old_platform": w["p2"].pk}),
    "disable-record": (lambda ctx, w: site_state._record(Site.DISABLED)(ctx), lambda w: {}),
    "backup-undo": (lambda ctx, w: site_backup.record_undo(ctx), lambda w: {"backup_id": w["backup"].pk}),
    "restore-record": (lambda ctx, w: site_backup.restore_record(ctx), lambda w: {"backup_id": w["backup"].pk}),
    "platform-verified": (lambda ctx, w: platform_ops.mark_verified(ctx), lambda w: {}),
    "platform-delete-record": (lambda ctx, w: platform_delete.record(ctx), lambda w: {"sites": []}),
    "server-record": (lambda ctx, w: server_ops.record(ctx), lambda w: {}),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_run_that_lost_its_task_writes_no_record(world, write):
    run, state = WRITES[write]
    ctx = fenced(world, state(world))
    before = records()
    with pytest.raises(Lost):
        run(ctx, world)
    assert records() == before


def test_every_record_write_of_a_step_is_fenced():
    """Every ORM write, audit event and queued task in hosting/operations is written inside
    `with ctx.recording():` (a new one that is not fails here)."""
    writes = {"update", "create", "delete", "bulk_create", "get_or_create", "update_or_create"}
    # Not steps: `manage.py backups verify` runs it in the operator's process, outside any task.
    outside_tasks = {("backups.py", "check_backup")}
    loose = []
    for path in sorted(Path("hosting/operations").glob("*.py")):
        source = path.read_text()
        tree = ast.parse(source)
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            text = ast.get_source_segment(source, node.func) or ""
            orm = isinstance(node.func, ast.Attribute) and node.func.attr in writes and (
                ".objects" in text or (node.func.attr == "delete" and not node.args))
            if not (orm or text in ("audit.record", "queue_task")):
                continue
            function = parents.get(node)
            while function is not None and not isinstance(function, ast.FunctionDef):
                function = parents.get(function)
            if function is not None and (path.name, function.name) in outside_tasks:
                continue
            up = parents.get(node)
            while up is not None and not (isinstance(up, ast.With) and any(
                    "recording()" in (ast.get_source_segment(source, item.context_expr) or "") for item in up.items)):
                up = parents.get(up)
            if up is None:
                loose.append(f"{path}:{node.lineno}: {text}")
    assert not loose, "record writes outside ctx.recording():\n" + "\n".join(loose)
