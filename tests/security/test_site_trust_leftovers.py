"""Leftovers of killed tasks: a restore killed mid-way left `sites/.<domain>.restore-*` (copies of
settings.php and the dump, gigabytes) for good. The next task on the site, or its verify, removes
what is provably its own and says so; another site's leftovers, a link and a look-alike name stay."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from hosting.models import Task
from tests.operations.conftest import (
    _ops,  # noqa: F401 - autouse: data dirs, transactional db
    log_of,
    site_paths,
)

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])


def killed_restore(directory: Path) -> Path:
    """What provision.backup.restore leaves when its worker is SIGKILLed: its work directory,
    named as it names it, holding the extracted site (settings.php included)."""
    work = Path(tempfile.mkdtemp(prefix=f".{directory.name}.restore-", dir=directory.parent))
    (work / "site").mkdir()
    (work / "site" / "settings.php").write_bytes((directory / "settings.php").read_bytes())
    (work / "database.sql").write_bytes(os.urandom(1 << 20))
    os.chmod(work / "site", 0o555)  # read-only, as Drupal's site directories are
    return work


@pytest.mark.parametrize("kind", ["verify", "backup"])
def test_the_next_task_removes_what_a_killed_restore_left(installed, run, kind, tmp_path):
    site, other = installed(), installed()
    _, directory = site_paths(site)
    _, other_dir = site_paths(other)
    mine = [killed_restore(directory), killed_restore(directory)]
    aside = directory.with_name(f".{site.domain}.old-0123abcd")  # a swap's old copy, the site being back
    aside.mkdir()
    theirs = killed_restore(other_dir)
    lookalike = directory.with_name(f".{site.domain}.restore-notours-at-all")
    lookalike.mkdir()
    link = directory.with_name(f".{site.domain}.restore-linkxxxx")
    link.symlink_to(tmp_path)
    task = run(site, kind)
    assert task.state in (Task.SUCCEEDED, Task.WARNING), log_of(task)
    for path in [*mine, aside]:
        assert not path.exists(), path
        assert f"Removed {path.name}" in log_of(task) and "interrupted restore" in log_of(task)
    assert theirs.is_dir() and lookalike.is_dir() and link.is_symlink() and tmp_path.is_dir()


def test_an_old_copy_is_kept_while_the_site_directory_is_missing(installed, run):
    """Killed between the two renames of the swap: the `.old-` directory is the site itself."""
    site = installed()
    _, directory = site_paths(site)
    aside = directory.with_name(f".{site.domain}.old-0123abcd")
    directory.rename(aside)
    task = run(site, "verify")
    assert task.state == Task.FAILED
    assert aside.is_dir() and (aside / "settings.php").is_file()
