"""The pre-flight space check of copies: the trees are walked for their size only when the
destination could not hold everything on the sources' filesystems."""
from __future__ import annotations

import os
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from provision import preflight
from provision.errors import ProvisionError

Usage = namedtuple("Usage", "total used free")


def _tree(root: Path) -> Path:
    (root / "files").mkdir(parents=True)
    (root / "files" / "a.bin").write_bytes(b"x" * 5000)
    return root


def _used_on(path: Path) -> int:
    stat = os.statvfs(path)
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize


def test_it_skips_the_walk_when_the_destination_holds_the_whole_source_filesystem(tmp_path, monkeypatch):
    source = _tree(tmp_path / "site")
    walked = []
    plenty = _used_on(source) * 2 + (1 << 30)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(plenty * 2, plenty, plenty))
    preflight.check_copy_space([source], tmp_path / "clone", "The clone", lambda p: walked.append(p) or 5000)
    assert walked == []


def test_it_walks_and_passes_when_the_tree_fits_though_the_filesystem_would_not(tmp_path, monkeypatch):
    source = _tree(tmp_path / "site")
    walked = []
    free = preflight.RESERVE + (1 << 20)  # far less than the filesystem's use, far more than the tree
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(1 << 40, (1 << 40) - free, free))
    preflight.check_copy_space([source], tmp_path / "clone", "The clone",
                               lambda p: walked.append(p) or 5000)
    assert walked == [source]


def test_it_refuses_with_the_figures_when_the_tree_does_not_fit(tmp_path, monkeypatch):
    source = _tree(tmp_path / "site")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(1 << 30, (1 << 30) - 4096, 4096))
    with pytest.raises(ProvisionError) as refused:
        preflight.check_copy_space([source, source / "files"], tmp_path / "clone", "The clone of x",
                                   lambda p: 5000)
    message = str(refused.value)
    assert "The clone of x needs about 9.8 KiB" in message and "only 4.0 KiB free of 1.0 GiB" in message
    assert not (tmp_path / "clone").exists()
