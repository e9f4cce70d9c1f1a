from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hosting.models import Task

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    # What is queued is the point here; no worker runs, and no message needs to leave.
    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: True)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("verify", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_queues_every_platform_and_site_with_their_clients(platform, make_site, acme, globex):
    a = make_site("a.acme.test", acme)
    g = make_site("g.globex.test", globex)
    make_site("gone.test", acme, status="deleted")
    out, _ = run("--all")
    tasks = list(Task.objects.order_by("pk"))
    assert [(t.target_type, t.target_label, t.client_id) for t in tasks] == [
        ("platform", "p1", None), ("site", "a.acme.test", acme.pk), ("site", "g.globex.test", globex.pk)]
    assert all(t.kind == "verify" and t.created_by is None for t in tasks)
    assert "Queued 3 verify task(s)" in out and f"#{tasks[0].pk}..#{tasks[-1].pk}" in out
    assert {a.pk, g.pk} == {t.site_id for t in tasks if t.site_id}


def test_it_limits_to_a_client_and_to_sites_or_platforms(platform, make_site, acme, globex):
    make_site("a.acme.test", acme)
    make_site("g.globex.test", globex)
    run("--client", "acme")
    assert list(Task.objects.values_list("target_label", flat=True)) == ["a.acme.test"]
    Task.objects.all().delete()
    run("--all", "--platforms")
    assert list(Task.objects.values_list("target_type", flat=True)) == ["platform"]
    Task.objects.all().delete()
    run("--platform", "p1", "--sites")
    assert sorted(Task.objects.values_list("target_label", flat=True)) == ["a.acme.test", "g.globex.test"]


def test_it_does_not_double_a_verify_already_queued(platform, site):
    run("--all")
    out, _ = run("--all")
    assert Task.objects.count() == 2
    assert "Queued 0 verify task(s), 2 already queued or running" in out


def test_it_refuses_without_a_selection_and_for_unknown_names(platform):
    for args in ([], ["--platform", "nope"], ["--client", "nope"]):
        with pytest.raises(CommandError):
            run(*args)
    assert not Task.objects.exists()


def test_it_waits_and_exits_non_zero_when_one_fails(platform, make_site, acme, monkeypatch):
    make_site("a.acme.test", acme)
    make_site("b.acme.test", acme)
    sleeps = []

    def finish(_seconds: float) -> None:
        # Stands in for the workers: the first look sees nothing done, the next everything.
        sleeps.append(1)
        tasks = list(Task.objects.order_by("pk"))
        Task.objects.filter(pk=tasks[0].pk).update(state=Task.SUCCEEDED)
        Task.objects.filter(pk=tasks[1].pk).update(state=Task.SUCCEEDED)
        Task.objects.filter(pk=tasks[2].pk).update(state=Task.FAILED, summary="database unreachable")
    monkeypatch.setattr("hosting.management.commands.verify.time.sleep", finish)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("verify", "--all", "--wait", stdout=out, stderr=err)
    assert raised.value.returncode == 1
    # Not a terminal: plain progress lines, once per change.
    assert "0/3 finished, 0 failed\n3/3 finished, 1 failed\n" in out.getvalue()
    assert "2 succeeded, 1 failed." in out.getvalue()
    assert "b.acme.test: failed: database unreachable" in err.getvalue()


def test_it_draws_a_bar_on_a_terminal(platform, monkeypatch):
    from hosting.management.commands.verify import Progress

    buffer = io.StringIO()
    from django.core.management.base import OutputWrapper

    bar = Progress(OutputWrapper(buffer), 4, tty=True)
    bar.show(2, 1)
    bar.end()
    assert buffer.getvalue().startswith("\r[" + "#" * 15 + "." * 15 + "] 2/4 finished, 1 failed")


def test_it_exits_zero_when_all_succeed(platform, monkeypatch):
    monkeypatch.setattr("hosting.management.commands.verify.time.sleep",
                        lambda _s: Task.objects.update(state=Task.SUCCEEDED))
    out, _ = run("--all", "--wait")
    assert "1 succeeded, 0 failed." in out
