"""Paths stay inside the roots, site directories inside sites/, names stay safe."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.errors import InvalidDomain, ProvisionError, UnsafePath
from provision.paths import Roots, safe_name, site_dir


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("paths")
    platforms = base / "platforms"
    backups = base / "backups"
    outside = base / "outside"
    for d in (platforms / "p1" / "sites" / "a.example.com", backups, outside):
        d.mkdir(parents=True)
    # Links that lead out of the roots, and one that stays in.
    (platforms / "escape").symlink_to(outside)
    (platforms / "p1" / "sites" / "evil.example.com").symlink_to(outside)
    (platforms / "to-backups").symlink_to(backups)
    (platforms / "dangling").symlink_to(outside / "not-yet")
    return {"base": base, "platforms": platforms, "backups": backups, "outside": outside}


def test_it_resolves_paths_inside_the_roots(tree: dict[str, Path]) -> None:
    roots = Roots([tree["platforms"], tree["backups"]])
    assert roots.inside(tree["platforms"] / "p1") == tree["platforms"] / "p1"
    assert roots.inside(tree["platforms"] / "new" / "deeper") == tree["platforms"] / "new" / "deeper"
    assert roots.inside(tree["platforms"] / "to-backups" / "x") == tree["backups"] / "x"
    assert roots.inside(tree["platforms"]) == tree["platforms"]


def test_it_refuses_paths_outside_the_roots(tree: dict[str, Path]) -> None:
    roots = Roots([tree["platforms"]])
    with pytest.raises(UnsafePath, match=r"is outside the configured roots \(.*platforms\)"):
        roots.inside(tree["outside"])
    with pytest.raises(UnsafePath, match="which leads to"):
        roots.inside(tree["platforms"] / "escape" / "file")
    with pytest.raises(UnsafePath):
        roots.inside(tree["platforms"] / "dangling")
    with pytest.raises(UnsafePath, match="root itself|outside"):
        roots.inside(tree["platforms"], allow_root=False)
    # A sibling whose name starts like the root is not inside it.
    with pytest.raises(UnsafePath):
        roots.inside(str(tree["platforms"]) + "-other")


@pytest.mark.parametrize("bad, message", [
    ("relative/path", "not an absolute path"),
    ("/srv/../etc", "contains '..'"),
    ("/srv/x\x00y", "NUL byte"),
    ("", "empty"),
])
def test_it_refuses_bad_path_shapes_with_a_clear_message(tree: dict[str, Path], bad: str, message: str) -> None:
    with pytest.raises(UnsafePath, match=message):
        Roots([tree["platforms"]]).inside(bad)


def test_it_refuses_absolute_and_parent_parts_in_join(tree: dict[str, Path]) -> None:
    roots = Roots([tree["platforms"]])
    assert roots.join(tree["platforms"], "p1", "sites") == tree["platforms"] / "p1" / "sites"
    with pytest.raises(UnsafePath, match="relative name"):
        roots.join(tree["platforms"], "/etc/passwd")
    with pytest.raises(UnsafePath, match=r"'\.\.'"):
        roots.join(tree["platforms"], "p1", "../../outside")


def test_it_refuses_a_bad_root() -> None:
    with pytest.raises(UnsafePath, match="absolute"):
        Roots(["var/platforms"])
    with pytest.raises(UnsafePath, match="/ cannot"):
        Roots(["/"])
    with pytest.raises(UnsafePath, match="No root"):
        Roots([])


def test_it_builds_the_site_dir_from_a_normalised_domain(tree: dict[str, Path]) -> None:
    docroot = tree["platforms"] / "p1"
    assert site_dir(docroot, "A.Example.COM.") == docroot / "sites" / "a.example.com"
    assert site_dir(docroot, "bücher.example") == docroot / "sites" / "xn--bcher-kva.example"


@pytest.mark.parametrize("domain", ["../etc", "a/b.com", "default", "x\x00.com", "..", "/abs.com", "all"])
def test_it_refuses_domains_that_would_escape(tree: dict[str, Path], domain: str) -> None:
    with pytest.raises(InvalidDomain):
        site_dir(tree["platforms"] / "p1", domain)


def test_it_refuses_a_site_dir_symlinked_elsewhere(tree: dict[str, Path]) -> None:
    with pytest.raises(UnsafePath, match="outside the platform's sites directory"):
        site_dir(tree["platforms"] / "p1", "evil.example.com")


def test_it_makes_safe_database_names() -> None:
    assert safe_name("Example.COM") == "example_com"
    assert re.fullmatch(r"shop_1_[0-9a-f]{8}", safe_name("shop-1.example.com", 16))
    assert safe_name("1.example.com") == "s_1_example_com"
    assert safe_name("...") == "s"
    long_a = "a" * 80 + ".example.com"
    long_b = "a" * 80 + ".example.org"
    assert safe_name(long_a) != safe_name(long_b)
    assert len(safe_name(long_a)) == 32
    assert safe_name(long_a) == safe_name(long_a)  # stable across calls (and processes: sha256)
    with pytest.raises(ValueError):
        safe_name("x", 5)


PARTS = st.sampled_from(["p1", "sites", "a.example.com", "evil.example.com", "escape", "to-backups",
                         "dangling", "..", ".", "", "x", "/", "//", "\x00", "~", "é"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(PARTS, max_size=6), raw=st.text(max_size=30))
def test_it_never_returns_a_path_outside_the_roots(tree: dict[str, Path], parts: list[str], raw: str) -> None:
    roots = Roots([tree["platforms"], tree["backups"]])
    for candidate in (os.path.join(str(tree["platforms"]), *parts), str(tree["platforms"]) + "/" + raw, raw):
        try:
            result = roots.inside(candidate)
        except UnsafePath:
            continue
        real = Path(os.path.realpath(result))
        assert any(real == r or real.is_relative_to(r) for r in roots)
    try:
        joined = roots.join(tree["platforms"], *[p for p in parts if p], raw or "x")
    except UnsafePath:
        return
    assert any(joined.is_relative_to(r) for r in roots)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(domain=st.one_of(st.text(max_size=40), st.from_regex(r"[a-z0-9./\-]{1,30}", fullmatch=True)))
def test_it_never_returns_a_site_dir_outside_sites(tree: dict[str, Path], domain: str) -> None:
    sites = (tree["platforms"] / "p1" / "sites").resolve()
    try:
        result = site_dir(tree["platforms"] / "p1", domain)
    except ProvisionError:
        return
    assert result.parent == sites and Path(os.path.realpath(result)).parent == sites


@given(text=st.text(max_size=300), max_len=st.integers(12, 80))
def test_it_safe_name_is_always_a_safe_identifier(text: str, max_len: int) -> None:
    name = safe_name(text, max_len)
    assert re.fullmatch(r"[a-z][a-z0-9_]*", name) and len(name) <= max_len
    assert safe_name(text, max_len) == name
