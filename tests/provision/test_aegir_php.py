"""The reader of Aegir's PHP data files: what provision writes round-trips, everything else is
refused with the file and line, and nothing in the file is ever run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provision.aegir_php import MAX_BYTES, PhpDataError, export_file, parse_text, read_file, values

SITE = """<?php
$aliases['example.com'] = array (
  'context_type' => 'site',
  'platform' => '@platform_drupal7',
  'server' => '@server_master',
  'db_server' => '@server_localhost',
  'uri' => 'example.com',
  'root' => '/var/aegir/platforms/drupal-7.x',
  'site_path' => '/var/aegir/platforms/drupal-7.x/sites/example.com',
  'site_enabled' => true,
  'language' => 'en',
  'client_name' => 'acme',
  'aliases' =>
  array (
    0 => 'www.example.com',
  ),
  'redirection' => false,
  'cron_key' => '',
  'profile' => 'standard',
  'https_enabled' => 0,
  'ratio' => 1.5,
  'nothing' => NULL,
);
"""


def test_a_site_context_as_provision_writes_it() -> None:
    site = parse_text(SITE)["aliases"]["example.com"]
    assert site["context_type"] == "site"
    assert site["site_enabled"] is True
    assert values(site["aliases"]) == ["www.example.com"]
    assert site["redirection"] is False
    assert site["ratio"] == 1.5 and site["nothing"] is None


def test_short_arrays_comments_escapes_and_keys() -> None:
    text = """<?php
    // a comment
    # another
    /* a block
       comment */
    $options['db_name'] = "site\\x41\\n\\u{e9}\\101";
    $options['list'] = ['a', 'b', 5 => 'c', 'd', '7' => 'e', -3 => -2.5e3, 'q' => 'it\\'s \\\\ \\n'];
    ?>
    """
    options = parse_text(text)["options"]
    assert options["db_name"] == "siteA\n\u00e9A"
    assert options["list"] == {0: "a", 1: "b", 5: "c", 6: "d", 7: "e", -3: -2500.0, "q": "it's \\ \\n"}


keys = st.one_of(st.integers(min_value=-(2**40), max_value=2**40),
                 st.text(max_size=12).filter(lambda s: parse_key(s) == s))
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**62), max_value=2**62),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))
php_values = st.recursive(scalars, lambda inner: st.dictionaries(keys, inner, max_size=5), max_leaves=30)


def parse_key(s: str) -> int | str:
    from provision.aegir_php import _php_key

    return _php_key(s)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=20).filter(lambda s: parse_key(s) == s), php_values,
                       min_size=1, max_size=4))
def test_round_trip_of_generated_arrays(entries) -> None:
    assert parse_text(export_file("aliases", entries))["aliases"] == entries


@pytest.mark.parametrize(("text", "line", "reason"), [
    ("<?php\n$aliases['a'] = system('rm -rf /');\n", 2, "not data"),
    ("<?php\n$aliases['a'] = array(\n 'x' => file_get_contents('/etc/passwd'),\n);", 3, "not data"),
    ("<?php\n\n$aliases['a'] = \"$HOME\";", 3, "variable inside"),
    ("<?php\n$aliases['a'] = \"{$x}\";", 2, "variable inside"),
    ("<?php\n$aliases['a'] = <<<EOT\nhi\nEOT;\n", 2, "unexpected character"),
    ("<?php\n$aliases['a'] = $other;", 2, "expected a value"),
    ("<?php\n$x = 1;", 2, "only assignments"),
    ("<?php\ninclude '/etc/passwd';", 2, "only assignments"),
    ("<?php\neval('x');", 2, "only assignments"),
    ("<?php\n$aliases['a'] = PHP_VERSION;", 2, "not data"),
    ("<?php\n$aliases['a'] = `id`;", 2, "unexpected character"),
    ("<?php\n$aliases['a'] = 'x' . 'y';", 2, "unexpected character"),
    ("<?php\n$aliases['a'] = array('x' => 1", 2, "expected"),
    ("<?php\n$aliases['a'] = 'unterminated", 2, "unterminated"),
    ("<?php\n$aliases['a'] = 1; ?>\n<?php system('id'); ?>", 2, "after ?>"),
    ("hello <?php $aliases['a'] = 1;", 1, "does not start"),
    ("<?php\n$aliases[array()] = 1;", 2, "key must be"),
    ("<?php\n$aliases['a'] = 08;", 2, "malformed"),
    ("<?php\n$aliases['a'] = " + "[" * 40 + "]" * 40 + ";", 2, "nested deeper"),
])
def test_anything_but_data_is_refused_with_its_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(PhpDataError) as caught:
        parse_text(text, "ctx.alias.drushrc.php")
    assert caught.value.line == line, str(caught.value)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"ctx.alias.drushrc.php:{line}: ")


def test_a_file_is_read_only_when_regular_small_and_not_a_link(tmp_path: Path) -> None:
    good = tmp_path / "example.com.alias.drushrc.php"
    good.write_text(SITE)
    assert "example.com" in read_file(good)["aliases"]

    link = tmp_path / "link.alias.drushrc.php"
    link.symlink_to(good)
    with pytest.raises(PhpDataError, match="link"):
        read_file(link)

    big = tmp_path / "big.alias.drushrc.php"
    with big.open("wb") as handle:
        handle.write(b"<?php\n$aliases['a'] = '")
        handle.truncate(50 * 1024 * 1024)
    with pytest.raises(PhpDataError, match=f"larger than {MAX_BYTES}"):
        read_file(big)

    fifo = tmp_path / "fifo.alias.drushrc.php"
    os.mkfifo(fifo)
    with pytest.raises(PhpDataError, match="not a regular file"):
        read_file(fifo)

    binary = tmp_path / "bin.alias.drushrc.php"
    binary.write_bytes(b"<?php\n\n$aliases['a'] = '\xff';")
    with pytest.raises(PhpDataError) as caught:
        read_file(binary)
    assert caught.value.line == 3


AEGIR_SETTINGS = '''<?php
/**
 * @file Drupal's settings.php file
 *
 * This file was automatically generated by Aegir 7.x-3.190
 */
  $databases['default']['default'] = array(
    'driver' => "mysql",
    'database' => "examplecom",
    'username' => "examplecom",
    'password' => "s3cr3t",
    'host' => "localhost",
    'port' => "3306",
   );
  $db_url['default'] = "mysql://examplecom:s3cr3t@localhost:3306/examplecom";
  $profile = "standard";
  umask(0002);
  global $conf;
  $conf['aegir_api'] = 2;
  if (is_readable('/var/aegir/config/includes/global.inc')) {
    include_once('/var/aegir/config/includes/global.inc');
  }
'''


def test_the_settings_php_aegir_writes_without_cloaking_is_read_and_with_cloaking_recognised(tmp_path: Path) -> None:
    """What the import's plan relies on: the untrusted settings.php reader takes Aegir's literal
    credentials; a cloaked one (credentials from $_SERVER) gives none, and is recognised."""
    from provision.aegir import cloaked
    from provision.untrusted_settings import read_untrusted_settings

    plain = tmp_path / "settings.php"
    plain.write_text(AEGIR_SETTINGS)
    db = read_untrusted_settings(plain)
    assert db is not None and (db.driver, db.database, db.username, db.port) == ("mysql", "examplecom", "examplecom",
                                                                                  3306)
    assert not cloaked(plain)
    hidden = tmp_path / "cloaked.php"
    hidden.write_text("<?php\n$databases['default']['default'] = array(\n  'database' => $_SERVER['db_name'],\n);\n")
    assert read_untrusted_settings(hidden) is None and cloaked(hidden)
    link = tmp_path / "link.php"
    link.symlink_to(hidden)
    assert not cloaked(link)
