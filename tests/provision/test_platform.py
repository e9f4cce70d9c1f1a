"""Platforms on disk: inspect, verify and discover, on Drupal-shaped platforms built for the test."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from provision.demo import make_platform
from provision.errors import ProvisionError, UnsafePath
from provision.platform import inspect_platform, scan_sites, verify_platform
from provision.settings_php import DatabaseSettings, render_settings_php


def test_it_inspects_a_composer_drupal10_platform(tmp_path: Path) -> None:
    root = make_platform(tmp_path / "d10", drupal=10, composer=True)
    info = inspect_platform(root)
    assert info.root == root and info.docroot == root / "web"
    assert (info.drupal_version, info.major) == ("10.3.1", 10)
    assert info.profiles == ("minimal", "standard")  # "testing" is hidden
    assert info.drush == root / "vendor" / "bin" / "drush"


@pytest.mark.parametrize("drupal, version", [(7, "7.101"), (11, "11.0.5")])
def test_it_inspects_plain_drupal7_and_11_platforms(tmp_path: Path, drupal: int, version: str) -> None:
    root = make_platform(tmp_path / "p", drupal=drupal)
    info = inspect_platform(root)
    assert (info.docroot, info.drupal_version, info.major) == (root, version, drupal)
    assert info.profiles == ("minimal", "standard")


def test_it_reads_the_version_in_either_quote_style(tmp_path: Path) -> None:
    (tmp_path / "includes").mkdir()
    (tmp_path / "includes" / "bootstrap.inc").write_text('<?php\ndefine( "VERSION" , "7.98" );\n')
    assert inspect_platform(tmp_path).drupal_version == "7.98"


def test_it_refuses_a_directory_that_is_not_drupal(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match="is not a Drupal platform"):
        inspect_platform(tmp_path)
    with pytest.raises(ProvisionError, match="does not exist"):
        inspect_platform(tmp_path / "missing")


def test_it_falls_back_to_drush_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_platform(tmp_path / "p")
    (root / "vendor" / "bin" / "drush").unlink()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    assert inspect_platform(root).drush is None
    (bin_dir / "drush").write_text("#!/bin/sh\n")
    (bin_dir / "drush").chmod(0o755)
    assert inspect_platform(root).drush == bin_dir / "drush"


def test_it_verifies_a_good_platform(tmp_path: Path) -> None:
    root = make_platform(tmp_path / "platforms" / "p", composer=True)
    assert verify_platform(root, [tmp_path / "platforms"]) == []


def test_it_refuses_a_platform_outside_the_roots(tmp_path: Path) -> None:
    root = make_platform(tmp_path / "elsewhere")
    (tmp_path / "platforms").mkdir()
    with pytest.raises(UnsafePath, match="outside the configured roots"):
        verify_platform(root, [tmp_path / "platforms"])
    (tmp_path / "platforms" / "link").symlink_to(root)
    with pytest.raises(UnsafePath, match="which leads to"):
        verify_platform(tmp_path / "platforms" / "link", [tmp_path / "platforms"])


def test_it_refuses_a_platform_without_sites(tmp_path: Path) -> None:
    root = make_platform(tmp_path / "p")
    shutil.rmtree(root / "sites")
    with pytest.raises(ProvisionError, match="sites is missing"):
        verify_platform(root, [tmp_path])


def test_it_lists_problems_an_admin_should_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_platform(tmp_path / "p")
    (root / "core" / "lib" / "Drupal.php").write_text("<?php class Drupal { const VERSION = '9.5.11'; }")
    (root / "sites" / "default" / "default.settings.php").unlink()
    (root / "vendor" / "bin" / "drush").unlink()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    problems = verify_platform(root, [tmp_path])
    assert any("Drupal 9.5.11 is not supported" in p for p in problems)
    assert any("default.settings.php is missing" in p for p in problems)
    assert any("No drush found" in p for p in problems)


def test_it_reports_sites_that_are_not_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_platform(tmp_path / "p")
    if os.geteuid() == 0:
        # root may write anywhere, so what the worker's user would see is simulated.
        real_access = os.access
        monkeypatch.setattr("provision.platform.os.access",
                            lambda p, mode: False if Path(p) == root / "sites" else real_access(p, mode))
    (root / "sites").chmod(0o555)
    try:
        assert any("is not writable" in p for p in verify_platform(root, [tmp_path]))
    finally:
        (root / "sites").chmod(0o755)


def test_it_discovers_sites_and_says_what_it_skipped(tmp_path: Path) -> None:
    root = make_platform(tmp_path / "p", sites=2)
    sites = root / "sites"
    (sites / "alias.example.test").symlink_to(sites / "site1.example.test")
    for name in ("simpletest", "Upper.Example.test", "nosettings.example.test", "computed.example.test"):
        (sites / name).mkdir()
    (sites / "computed.example.test" / "settings.php").write_text(
        "<?php $databases['default']['default'] = ['driver' => 'mysql', 'database' => getenv('DB')];")
    (sites / "example.sites.php").write_text("<?php\n")
    result = scan_sites(root)
    found = result.sites
    assert [s.domain for s in found] == ["computed.example.test", "site1.example.test", "site2.example.test"]
    assert found[1].site_dir == sites / "site1.example.test"
    assert found[1].db == DatabaseSettings(driver="sqlite",
                                           database=str(sites / "site1.example.test" / "private" / "db.sqlite"))
    assert found[0].db is None and "without PHP" in found[0].note
    skipped = {s.name: s.reason for s in result.skipped}
    assert set(skipped) == {"alias.example.test", "default", "simpletest", "Upper.Example.test",
                            "nosettings.example.test"}
    assert "symlink" in skipped["alias.example.test"]
    assert "not a valid domain" in skipped["simpletest"]
    assert "expected upper.example.test" in skipped["Upper.Example.test"]
    assert "has no settings.php" in skipped["nosettings.example.test"]


def test_it_discovers_a_thousand_sites_quickly(tmp_path: Path) -> None:
    root = make_platform(tmp_path / "p")
    # A real settings.php is mostly comments (Drupal's is ~35 kB): read past them all.
    filler = "/**\n" + " * Drupal's documentation of a setting, repeated.\n" * 700 + " */\n"
    for number in range(1000):
        domain = f"s{number}.example.test"
        db = DatabaseSettings(driver="mysql", database=f"s{number}", username=f"u{number}",
                              password="pw", host="db", port=3306)
        text = render_settings_php(db, hash_salt="x", file_public_path=f"sites/{domain}/files")
        (root / "sites" / domain).mkdir()
        (root / "sites" / domain / "settings.php").write_text(text.replace("<?php\n", "<?php\n" + filler, 1))
    start = time.monotonic()
    found = scan_sites(root).sites
    elapsed = time.monotonic() - start
    assert len(found) == 1000 and all(s.db is not None and s.db.password == "pw" for s in found)
    assert elapsed < 5, f"discovery of 1,000 sites took {elapsed:.1f} s"
