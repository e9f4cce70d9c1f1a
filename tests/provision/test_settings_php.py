"""settings.php: credentials read without PHP, and written so that they read back the same."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provision.errors import ProvisionError
from provision.settings_php import (
    DatabaseSettings,
    parse_database_settings,
    php_string,
    read_database_settings,
    render_settings_php,
    write_settings_php,
)

DRUPAL7 = r"""<?php
/**
 * Example, commented out:
 * $databases['default']['default'] = array('driver' => 'sqlite', 'database' => 'wrong');
 */
$databases = array (
  'default' =>
  array (
    'default' =>
    array (
      'database' => 'd7_db',
      'username' => "d7_user",
      'password' => 'it\'s a \\ secret',
      'host' => 'localhost',
      'port' => '',
      'driver' => 'mysql',
      'prefix' => '',
    ),
  ),
);
# $databases['default']['default']['database'] = 'also wrong';
$update_free_access = FALSE;
$drupal_hash_salt = 'abc';
"""

DRUPAL10 = r"""<?php
// @codingStandardsIgnoreFile
$databases = [];
$settings['hash_salt'] = 'x';
// $databases['default']['default'] = ['database' => 'commented'];
$s = "a string that mentions $databases['default'] = [] and // a comment";
$databases['default']['default'] = array (
  'database' => 'd10',
  'username' => 'drupal',
  'password' => "p\"w\$d\x41",
  'prefix' => '',
  'host' => 'db.internal',
  'port' => 5432,
  'namespace' => 'Drupal\\pgsql\\Driver\\Database\\pgsql',
  'driver' => 'pgsql',
  'autoload' => 'core/modules/pgsql/src/Driver/Database/pgsql/',
);
$databases['default']['default']['host'] = '10.0.0.5';
$settings['config_sync_directory'] = 'sites/default/files/config_x/sync';
"""


def test_it_reads_a_drupal7_settings_file() -> None:
    db = parse_database_settings(DRUPAL7)
    assert db == DatabaseSettings(driver="mysql", database="d7_db", username="d7_user",
                                  password="it's a \\ secret", host="localhost", port=None)


def test_it_reads_a_drupal10_settings_file_with_later_overrides() -> None:
    db = parse_database_settings(DRUPAL10)
    assert db is not None
    assert (db.driver, db.database, db.username, db.host, db.port) == ("pgsql", "d10", "drupal", "10.0.0.5", 5432)
    assert db.password == 'p"w$dA'


def test_it_hides_the_password_in_repr() -> None:
    db = DatabaseSettings(driver="mysql", database="d", password="hunter2")
    assert "hunter2" not in repr(db)


@pytest.mark.parametrize("text", [
    "<?php\n$settings['hash_salt'] = 'x';\n",
    "<?php\n/* $databases['default']['default'] = ['driver' => 'mysql', 'database' => 'x']; */\n",
    "<?php\n$databases['default']['default'] = ['driver' => 'mysql', 'database' => getenv('DB')];\n",
    "<?php\n$databases['default']['default'] = ['driver' => 'mysql', 'database' => \"$name\"];\n",
    "<?php\n$databases['default']['default'] = ['driver' => 'mysql', 'database' => ",
    "",
])
def test_it_returns_none_without_a_readable_default_database(text: str) -> None:
    assert parse_database_settings(text) is None


def test_it_skips_computed_values_but_keeps_the_literal_ones() -> None:
    text = """<?php
$databases['default']['default'] = [
  'driver' => 'mysql', 'password' => getenv('DB_PASS'), 'host' => FOO . 'x',
  'database' => 'site' . '_db', 'init_commands' => ['isolation' => "SET SESSION tx_isolation='READ-COMMITTED'"],
  'port' => '3307',
];"""
    db = parse_database_settings(text)
    assert db == DatabaseSettings(driver="mysql", database="site_db", port=3307)


def test_it_reads_sqlite_and_a_drupal7_prefix_array() -> None:
    text = ("<?php $databases['default']['default'] = array('driver' => 'sqlite', 'database' => '/srv/db/x.sqlite', "
            "'prefix' => array('default' => 'pre_'));")
    assert parse_database_settings(text) == DatabaseSettings(driver="sqlite", database="/srv/db/x.sqlite",
                                                             prefix="pre_")


@pytest.mark.parametrize("drupal", [7, 10, 11])
def test_it_renders_a_settings_file_that_reads_back(tmp_path: Path, drupal: int) -> None:
    db = DatabaseSettings(driver="mysql", database="shop", username="shop_u", password="a'b\\c\"$x",
                          host="127.0.0.1", port=3306)
    text = render_settings_php(db, drupal=drupal, hash_salt="salt'", file_public_path="sites/shop.example.com/files",
                               file_private_path="/srv/private/shop", config_sync_directory="../config/sync",
                               trusted_host_patterns=["^shop\\.example\\.com$"])
    assert parse_database_settings(text) == db
    if drupal == 7:
        assert "array(" in text and "$drupal_hash_salt = 'salt\\'';" in text
    else:
        assert "$settings['hash_salt'] = 'salt\\'';" in text
        assert "'namespace' => 'Drupal\\\\mysql\\\\Driver\\\\Database\\\\mysql'," in text
    target = tmp_path / "settings.php"
    write_settings_php(target, text)
    write_settings_php(target, text)  # rewriting a read-only settings.php works
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o440
    assert read_database_settings(target) == db


def test_it_refuses_nul_in_values() -> None:
    with pytest.raises(ProvisionError, match="NUL"):
        php_string("a\x00b")


def test_it_converts_database_urls_both_ways() -> None:
    db = DatabaseSettings(driver="mysql", database="d b", username="u@x", password="p:/@ss", host="h", port=3306)
    assert db.url() == "mysql://u%40x:p%3A%2F%40ss@h:3306/d%20b"
    assert DatabaseSettings.from_url(db.url()) == db
    assert DatabaseSettings.from_url("postgres://postgres@127.0.0.1:5432/x") == DatabaseSettings(
        driver="pgsql", database="x", username="postgres", host="127.0.0.1", port=5432)
    lite = DatabaseSettings(driver="sqlite", database="/abs/x.sqlite")
    assert lite.url() == "sqlite://localhost//abs/x.sqlite"
    assert DatabaseSettings.from_url(lite.url()) == lite
    assert DatabaseSettings.from_url("sqlite://sites/x/files/.ht.sqlite").database == "sites/x/files/.ht.sqlite"
    with pytest.raises(ProvisionError):
        DatabaseSettings.from_url("oracle://x/y")


VALUES = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)


@given(driver=st.sampled_from(["mysql", "pgsql", "sqlite"]), database=VALUES.filter(bool), username=VALUES,
       password=VALUES, host=VALUES, port=st.one_of(st.none(), st.integers(1, 65535)), prefix=VALUES,
       drupal=st.sampled_from([7, 10, 11]), salt=VALUES)
def test_it_round_trips_any_values(driver: str, database: str, username: str, password: str, host: str,
                                   port: int | None, prefix: str, drupal: int, salt: str) -> None:
    db = DatabaseSettings(driver=driver, database=database, username=username, password=password,
                          host=host, port=port, prefix=prefix)
    text = render_settings_php(db, drupal=drupal, hash_salt=salt, file_public_path="sites/x/files")
    assert parse_database_settings(text) == db
