"""A client swaps a directory or file of its site for a link between Harbormaster's check and
its use (issue 13 review, M3/L1).

Before: verify's repair checked `private/tmp` through `private` (a link to anywhere: it created
directories there) and tightened settings.php's mode by path after checking it was not a link
(a link swapped in meanwhile had another file's mode changed); a backup read the files/ link,
checked its target, then resolved the link again (a link re-pointed meanwhile was followed into
another site's files). Now repair works through directory descriptors opened without following
links and changes the mode through the file's own descriptor, and files_link follows the very
path it checked."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from provision import sitefiles
from provision.backup import links
from provision.paths import Roots


def site(tmp_path: Path) -> Path:
    directory = tmp_path / "sites" / "a.example.test"
    (directory / "files").mkdir(parents=True)
    (directory / "settings.php").write_text("<?php\n")
    return directory


def test_repair_never_creates_directories_through_a_link(tmp_path):
    directory = site(tmp_path)
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    (directory / "private").symlink_to(elsewhere)
    done = sitefiles.repair(directory)
    assert not (elsewhere / "tmp").exists(), done
    assert (directory / "private").is_symlink() and "created private/tmp/" not in done


def test_repair_creates_what_is_missing_with_the_files_mode(tmp_path):
    directory = site(tmp_path)
    assert sitefiles.repair(directory) == ["created private/", "created private/tmp/"]
    for sub in ("private", "private/tmp"):
        assert stat.S_IMODE((directory / sub).stat().st_mode) == sitefiles.FILES_MODE
    assert sitefiles.repair(directory) == []


def test_repair_never_changes_the_mode_of_a_file_swapped_in_after_its_check(tmp_path, monkeypatch):
    directory = site(tmp_path)
    settings = directory / "settings.php"
    os.chmod(settings, 0o666)
    victim = tmp_path / "other-site-settings.php"
    victim.write_text("<?php\n")
    os.chmod(victim, 0o664)
    looked = Path.stat

    def swap_when_looked_at(self, *args, **kwargs):  # the client's swap, right after the check
        result = looked(self, *args, **kwargs)
        if self == settings and not self.is_symlink():
            self.unlink()
            self.symlink_to(victim)
        return result

    monkeypatch.setattr(Path, "stat", swap_when_looked_at)
    sitefiles.repair(directory)
    monkeypatch.undo()
    assert stat.S_IMODE(victim.stat().st_mode) == 0o664


def test_repair_tightens_settings_php_through_its_own_descriptor(tmp_path):
    directory = site(tmp_path)
    os.chmod(directory / "settings.php", 0o666)
    assert "settings.php made read-only" in sitefiles.repair(directory)
    assert stat.S_IMODE((directory / "settings.php").stat().st_mode) == 0o440
    fifo = site(tmp_path / "b")
    (fifo / "settings.php").unlink()
    os.mkfifo(fifo / "settings.php", 0o666)
    assert "settings.php made read-only" not in sitefiles.repair(fifo)  # never blocks on a FIFO


def test_a_files_link_re_pointed_after_its_check_is_not_followed(tmp_path, monkeypatch):
    directory = site(tmp_path)
    allowed = tmp_path / "shared" / "a.example.test" / "files"
    allowed.mkdir(parents=True)
    victim = tmp_path / "sites" / "b.example.test" / "files"
    victim.mkdir(parents=True)
    (victim / "private.pdf").write_text("the other site's\n")
    (directory / "files").rmdir()
    (directory / "files").symlink_to(allowed)
    read = os.readlink

    def re_point_after_reading(path, *args, **kwargs):  # the client's swap, right after the read
        target = read(path, *args, **kwargs)
        if Path(path) == directory / "files":
            os.unlink(path)
            os.symlink(victim, path)
        return target

    monkeypatch.setattr(os, "readlink", re_point_after_reading)
    found = links.files_link(directory, True, Roots([tmp_path / "shared" / "a.example.test"]))
    monkeypatch.undo()
    assert found is not None and found.real == allowed.resolve()
