"""The link rules backup, verify and restore share (provision.backup.links)."""
from __future__ import annotations

from pathlib import Path

import pytest

from provision.backup import links


@pytest.mark.parametrize(("name", "target", "others", "allowed"), [
    ("site/files/latest", "a.txt", {}, True),
    ("site/files/deep/up", "../a.txt", {}, True),
    ("site/a", "files/x/../y", {}, True),
    ("site/files/passwd", "/etc/passwd", {}, False),
    ("site/files/up", "../../..", {}, False),
    ("site/up", "..", {}, False),
    ("site/files/climb", "here/../..", {"site/files/here": "."}, False),
    ("site/files/ok", "here/x", {"site/files/here": "."}, True),
    ("site/x", "y/z", {"site/y": "/etc"}, False),
    ("site/loop", "a", {"site/a": "b", "site/b": "a"}, False),
    ("site/empty", "", {}, False),
])
def test_a_link_must_stay_inside_the_site(name: str, target: str, others: dict[str, str], allowed: bool) -> None:
    found = links.link_problem(name, target, {name: target, **others}, files_external=False)
    assert (found is None) is allowed, found


def test_a_link_may_go_through_a_kept_files_link_but_not_climb_out_of_it() -> None:
    assert links.link_problem("site/doc", "files/a/doc.txt", {}, files_external=True) is None
    # The kernel takes ".." after the link from where the link leads, not from site/.
    assert links.link_problem("site/doc", "files/../../x", {}, files_external=True) is not None
    assert links.link_problem("site/doc", "files/a/../../x", {}, files_external=True) is not None


def test_refusing_a_link_rechecks_those_that_went_through_it() -> None:
    found = {"site/deep": "a/b/c/../../../../x", "site/a": "/etc", "site/fine": "settings.php"}
    assert set(links.refused_links(found, files_external=False)) == {"site/a", "site/deep"}


def test_files_may_link_only_into_the_given_roots_resolved(tmp_path: Path) -> None:
    site = tmp_path / "sites" / "a.example"
    site.mkdir(parents=True)
    own = tmp_path / "files" / "a.example"
    own.mkdir(parents=True)
    other = tmp_path / "files" / "b.example"
    other.mkdir()
    (own / "sneaky").symlink_to(other)
    roots = links.allowed_roots([own])
    assert links.files_link_problem(str(own), site, roots) is None
    assert links.files_link_problem(str(own / "sneaky"), site, roots) is not None  # leads to b.example
    assert links.files_link_problem(str(other), site, roots) is not None
    assert links.files_link_problem("/etc", site, roots) is not None
    assert links.files_link_problem(str(own), site, None) is not None  # no roots: nowhere
    assert links.files_link_problem("private", site, None) is None  # inside the site: an ordinary link
    assert links.files_link_problem("../../files/a.example", None, roots) is not None  # relative, site unknown
