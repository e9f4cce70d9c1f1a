"""platform.build through the engine with the real git and composer: a tag, a branch and a
commit of a local bare repository built into new platforms; a failed build leaves no directory
and no record; hostile repositories (links out of the checkout, a docroot linked to /etc) and
hostile refs and URLs are refused; a token in git's output never reaches the task log."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.gitrepos import commit_all, drupal_repository, git, push
from tests.operations.conftest import log_of, steps_of
from tests.services import need_program


@pytest.fixture(autouse=True)
def _git(settings):
    need_program("git")
    settings.HARBORMASTER_LOCK_SUPERSEDED = False


@pytest.fixture
def local(make_server):
    return make_server("sqlite")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Path]:
    return drupal_repository(tmp_path / "repos")


def build(repository: str, ref: str, **kwargs):
    from hosting.engine.worker import execute
    from hosting.platformbuild import start_build

    platform, task = start_build("command line", repository=repository, ref=ref, **kwargs)
    execute(task.pk)
    task.refresh_from_db()
    return platform, task


def records():
    from hosting.models import Platform

    return list(Platform.objects.values_list("name", flat=True))


def test_it_builds_a_tag_then_the_next_version_and_locks_the_old_one(repo, local, settings, tmp_path):
    from hosting.engine.worker import execute
    from hosting.models import Platform
    from hosting.platformbuild import build_dir, next_build

    settings.HARBORMASTER_LOCK_SUPERSEDED = True
    bare, work = repo
    first, task = build(str(bare), "v1")
    assert task.state == "succeeded", log_of(task)
    first.refresh_from_db()
    assert first.status == "enabled" and first.drupal_version == "10.3.1"
    assert first.git_commit == git("rev-parse", "v1^{commit}", cwd=work)
    assert Path(first.path).parent == build_dir() and first.name == "shop-v1"
    assert "standard" in first.profiles
    assert steps_of(task)["composer"] == "done" and "No composer.json" in log_of(task)

    second, task2 = next_build("command line", first, "v2")
    execute(task2.pk)
    task2.refresh_from_db()
    assert task2.state == "succeeded", log_of(task2)
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.drupal_version == "10.3.2" and second.repository == first.repository
    assert first.status == Platform.LOCKED and first.superseded_by_id == second.pk


def test_it_builds_a_branch_and_a_commit_id(repo, local):
    bare, work = repo
    main, task = build(str(bare), "main", name="shop-main")
    assert task.state == "succeeded", log_of(task)
    commit = git("rev-parse", "v1^{commit}", cwd=work)
    pinned, task = build(f"file://{bare}", commit)
    assert task.state == "succeeded", log_of(task)
    pinned.refresh_from_db()
    assert pinned.git_commit == commit and pinned.drupal_version == "10.3.1"


def test_it_runs_composer_install_from_a_path_repository(local, tmp_path):
    need_program("composer")
    bare, _work = drupal_repository(tmp_path / "repos", composer=True, name="site")
    platform, task = build(str(bare), "v2")
    assert task.state == "succeeded", log_of(task)
    platform.refresh_from_db()
    root = Path(platform.path)
    assert (root / "vendor" / "harbormaster" / "drush-standin" / "drush").is_file()
    assert platform.docroot == str(root / "web") and platform.drupal_version == "10.3.2"
    assert "composer install --no-dev --no-interaction" in log_of(task)


def test_a_failed_build_leaves_no_directory_and_no_record(repo, local, settings):
    from hosting.models import Task

    bare, _work = repo
    settings.HARBORMASTER_FAULTS = {"platform.build": "record"}
    platform, task = build(str(bare), "v1", name="doomed")
    assert task.state == "failed"
    assert not Path(platform.path).exists() and records() == []
    assert Task.objects.get(pk=task.pk).platform_id is None and "doomed" in task.target_label
    settings.HARBORMASTER_FAULTS = {}
    # An unknown ref fails in git: the same.
    platform, task = build(str(bare), "no-such-branch", name="doomed")
    assert task.state == "failed" and "no-such-branch" in task.summary
    assert not Path(platform.path).exists() and records() == []


def test_it_refuses_a_tree_with_links_out_of_the_checkout(repo, local):
    bare, work = repo
    os.symlink("/etc/passwd", work / "sites" / "default" / "passwd.txt")
    commit_all(work, "a link out")
    push(work, bare, "HEAD:refs/heads/evil")
    platform, task = build(str(bare), "evil")
    assert task.state == "failed" and "symlinks that lead outside" in task.summary
    assert "passwd.txt -> /etc/passwd" in task.summary
    assert not Path(platform.path).exists() and records() == []


def test_it_refuses_a_docroot_linked_to_etc(repo, local, tmp_path):
    bare, work = repo
    git("rm", "-rq", "--cached", ".", cwd=work)
    for child in list(work.iterdir()):
        if child.name != ".git":
            os.system(f"rm -rf '{child}'")
    os.symlink("/etc", work / "web")
    (work / "composer.json").write_text("{}")
    commit_all(work, "docroot is /etc")
    push(work, bare, "HEAD:refs/heads/etc")
    platform, task = build(str(bare), "etc")
    assert task.state == "failed" and "web -> /etc" in task.summary
    assert records() == [] and not Path(platform.path).exists()


@pytest.mark.parametrize("ref", ["--upload-pack=touch /tmp/hm-pwned", "-b", "main:refs/heads/x", "a..b", "@{-1}"])
def test_it_refuses_refs_that_are_options_or_refspecs(repo, local, ref):
    from hosting.inventory import InventoryError

    bare, _work = repo
    with pytest.raises(InventoryError):
        build(str(bare), ref)
    assert records() == []
    assert not Path("/tmp/hm-pwned").exists()


@pytest.mark.parametrize("url", ["ext::sh -c touch% /tmp/hm-pwned", "ext::sh", "fd::3", "--upload-pack=x",
                                 "http://example.test/r.git", "https://user:pw@example.test/r.git",
                                 "/etc", "file:///etc"])
def test_it_refuses_transports_and_urls_it_does_not_allow(local, url):
    from hosting.inventory import InventoryError

    with pytest.raises(InventoryError):
        build(url, "main")
    assert records() == []


def test_a_token_in_gits_output_is_redacted(repo, local, settings, tmp_path):
    from hosting.models import AuditEvent

    bare, _work = repo
    secrets = tmp_path / "data" / "git-secrets"
    secrets.mkdir(parents=True)
    token = "ghp_" + "S3cr3tT0ken" * 3
    (secrets / "deploy").write_text(f"x-access-token:{token}\n")
    (secrets / "deploy").chmod(0o600)
    # git prints the ref it cannot find: here the token itself.
    platform, task = build(str(bare), f"release-{token}", name="leaky", secret="deploy")
    assert task.state == "failed"
    # The ref is what the user typed (kept in the task's arguments); what git and the build
    # print is redacted.
    text = log_of(task) + task.summary
    assert token not in text and "couldn't find remote ref release-[secret]" in text
    assert token not in repr(list(AuditEvent.objects.filter(action="task.failed").values()))


def test_a_build_whose_worker_died_is_rolled_back_by_the_reaper(repo, local, monkeypatch):
    import subprocess

    from hosting.engine.reaper import Reaper
    from hosting.engine.worker import execute
    from hosting.models import Task
    from hosting.operations import common
    from hosting.platformbuild import start_build

    class WorkerDied(BaseException):
        """Stands for SIGKILL: nothing in the worker catches it."""

    def fault(ctx, name: str) -> None:
        if name == "inspect":
            raise WorkerDied(name)

    bare, _work = repo
    platform, task = start_build("command line", repository=str(bare), ref="v1")
    monkeypatch.setattr(common, "injected_fault", fault)
    with pytest.raises(WorkerDied):
        execute(task.pk)
    monkeypatch.undo()
    assert Path(platform.path, "index.php").is_file()  # cloned when the worker died
    dead = subprocess.Popen(["true"])
    dead.wait()
    Task.objects.filter(pk=task.pk).update(owner_pid=dead.pid)
    assert Reaper(report=lambda line: None).reap_one()
    task.refresh_from_db()
    assert task.state == Task.FAILED and "rolled back" in task.summary, log_of(task)
    assert not Path(platform.path).exists() and records() == []
