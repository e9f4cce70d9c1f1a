"""Drupal-shaped platforms for the demo and the tests (DESIGN §5): the files Harbormaster looks
at (version file, index.php, default.settings.php, profiles, sites/) and a stand-in drush in
vendor/bin/drush, with optional existing sites on SQLite databases. No PHP is needed to build
or use one; the PHP files are there to be found and read, like a real platform's."""
from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

import provision
from provision.errors import ProvisionError
from provision.paths import PathLike, safe_name
from provision.settings_php import DatabaseSettings, render_settings_php, write_settings_php
from provision.standin_db import Database, install_schema

VERSIONS = {7: "7.101", 10: "10.3.1", 11: "11.0.5"}
REPO = Path(provision.__file__).resolve().parent.parent

INDEX_PHP = r"""<?php

/**
 * Harbormaster test platform: a stand-in for Drupal's front controller. Like Drupal's
 * conf_path() and DrupalKernel::findSitePath() it maps the host name to sites/<dir>: the
 * port-prefixed host first, then ever shorter parent domains, through sites/sites.php aliases.
 */
$host = strtolower(rtrim($_SERVER['HTTP_HOST'] ?? 'default', '.'));
$port = '';
if (preg_match('/^(.*):(\d+)$/', $host, $m)) {
  [, $host, $port] = $m;
}
$sites = [];
if (file_exists(__DIR__ . '/sites/sites.php')) {
  include __DIR__ . '/sites/sites.php';
}
$dir = 'default';
$labels = explode('.', $host);
for ($i = 0; $i < count($labels) && $dir === 'default'; $i++) {
  $name = implode('.', array_slice($labels, $i));
  foreach ($port === '' ? [$name] : ["$port.$name", $name] as $candidate) {
    $candidate = $sites[$candidate] ?? $candidate;
    if (preg_match('/^[a-z0-9.-]+$/', $candidate) && file_exists(__DIR__ . "/sites/$candidate/settings.php")) {
      $dir = $candidate;
      break;
    }
  }
}
$marker = __DIR__ . "/sites/$dir/files/.stand-in-installed";
$site_name = is_file($marker) ? trim(file_get_contents($marker)) : '(not installed)';
header('Content-Type: text/plain; charset=utf-8');
echo "Harbormaster test platform: served by sites/$dir\n";
echo 'Site name: ' . $site_name . "\n";
"""

DEFAULT_SETTINGS = {
    7: r"""<?php

/**
 * @file
 * Drupal site-specific configuration file (Harbormaster test platform).
 *
 * Database settings, for example:
 * @code
 * $databases['default']['default'] = array(
 *   'driver' => 'mysql',
 *   'database' => 'databasename',
 *   'username' => 'username',
 *   'password' => 'password',
 *   'host' => 'localhost',
 *   'prefix' => '',
 * );
 * @endcode
 */
$databases = array();
$update_free_access = FALSE;
$drupal_hash_salt = '';
ini_set('session.gc_probability', 1);
""",
    10: r"""<?php

// phpcs:ignoreFile

/**
 * @file
 * Drupal site-specific configuration file (Harbormaster test platform).
 *
 * Database settings, for example:
 * @code
 * $databases['default']['default'] = [
 *   'database' => 'databasename',
 *   'username' => 'sqlusername',
 *   'password' => 'sqlpassword',
 *   'host' => 'localhost',
 *   'port' => '3306',
 *   'driver' => 'mysql',
 *   'prefix' => '',
 * ];
 * @endcode
 */
$databases = [];
$settings['hash_salt'] = '';
$settings['update_free_access'] = FALSE;
$settings['container_yamls'][] = $app_root . '/' . $site_path . '/services.yml';
$settings['file_scan_ignore_directories'] = ['node_modules', 'bower_components'];
$settings['entity_update_batch_size'] = 50;
""",
}

# A verify starts the stand-in once per site, so its start-up is kept short: -S, as it needs only
# the standard library and this repository (the virtualenv's site hooks cost more than a status
# command); and bytecode is cached even where PYTHONDONTWRITEBYTECODE is set, or every start
# compiles the same modules again.
LAUNCHER = '''#!{python} -S
"""drush stand-in of a Harbormaster test platform (not drush): provision/drush_standin.py."""
import sys

sys.dont_write_bytecode = False
sys.path.insert(0, {repo!r})
from provision.drush_standin import main  # noqa: E402

sys.exit(main(sys.argv[1:], script=__file__))
'''


def _write(path: Path, text: str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mode is not None:
        path.chmod(mode)


def _profiles(docroot: Path, drupal: int) -> None:
    for name, hidden in (("standard", False), ("minimal", False), ("testing", True)):
        if drupal == 7:
            _write(docroot / "profiles" / name / f"{name}.info",
                   f"name = {name.capitalize()}\ncore = 7.x\n" + ("hidden = TRUE\n" if hidden else ""))
        else:
            _write(docroot / "core" / "profiles" / name / f"{name}.info.yml",
                   f"name: {name.capitalize()}\ntype: profile\ncore_version_requirement: ^{drupal}\n"
                   + ("hidden: true\n" if hidden else ""))
    if drupal != 7:
        _write(docroot / "profiles" / "README.txt", "Contributed and custom profiles go here.\n")


def write_drush_standin(project: Path) -> Path:
    """vendor/bin/drush: a launcher running the stand-in with this very Python (sys.executable),
    so it has the same modules, and this repository on its path."""
    drush = project / "vendor" / "bin" / "drush"
    _write(drush, LAUNCHER.format(python=sys.executable, repo=str(REPO)), 0o755)
    return drush


def make_platform(path: PathLike, *, drupal: int = 10, sites: int = 0, composer: bool = False,
                  db_dir: PathLike | None = None, taken: Callable[[str], bool] = lambda domain: False) -> Path:
    """Build a Drupal-shaped platform at PATH (which must not exist, or be an empty directory)
    and return its root. With SITES, that many sites named site<N>.example.test are installed on
    SQLite databases (in DB_DIR, else in each site's private/ directory), N counting from 1 past
    every name TAKEN says is in use and every database file DB_DIR already holds: a second demo
    platform never touches the first one's sites."""
    if drupal not in VERSIONS:
        raise ProvisionError(f"Demo platforms exist for Drupal {', '.join(map(str, VERSIONS))}, not {drupal}.")
    root = Path(path).resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ProvisionError(f"{root} exists and is not empty: refusing to build a platform over it.")
    root.mkdir(parents=True, exist_ok=True)
    docroot = root / "web" if composer else root
    version = VERSIONS[drupal]
    if composer:
        _write(root / "composer.json", json.dumps({
            "name": "harbormaster/test-platform", "type": "project",
            "require": {"drupal/core-recommended": f"^{drupal}", "drush/drush": "^12"},
            "extra": {"drupal-scaffold": {"locations": {"web-root": "web/"}}},
        }, indent=4) + "\n")
    if drupal == 7:
        _write(docroot / "includes" / "bootstrap.inc",
               f"<?php\n\n/**\n * The current system version.\n */\ndefine('VERSION', '{version}');\n")
        (docroot / "sites" / "all" / "modules").mkdir(parents=True)
    else:
        _write(docroot / "core" / "lib" / "Drupal.php",
               f"<?php\n\nnamespace {{\n\nclass Drupal {{\n\n  const VERSION = '{version}';\n\n}}\n\n}}\n")
    _write(docroot / "index.php", INDEX_PHP)
    _write(docroot / "sites" / "default" / "default.settings.php", DEFAULT_SETTINGS[7 if drupal == 7 else 10])
    _write(docroot / "sites" / "sites.php", "<?php\n\n// Site aliases: $sites['alias.example.com'] = 'directory';\n")
    _profiles(docroot, drupal)
    write_drush_standin(root)
    number = 0
    for _ in range(sites):
        number += 1
        while taken(f"site{number}.example.test") or (
                db_dir is not None and _db_file(Path(db_dir), f"site{number}.example.test").exists()):
            number += 1
        add_site(docroot, f"site{number}.example.test", drupal=drupal, db_dir=db_dir,
                 site_name=f"Site {number}")
    return root


def _db_file(db_dir: Path, domain: str) -> Path:
    return db_dir.resolve() / f"{safe_name(domain, 48)}.sqlite"


def add_site(docroot: Path, domain: str, *, drupal: int, db_dir: PathLike | None = None,
             site_name: str = "Demo site") -> Path:
    """An installed site: sites/<domain>/ with files/, private/, settings.php and an SQLite
    database holding what the stand-in's site:install writes."""
    site = docroot / "sites" / domain
    (site / "files").mkdir(parents=True)
    (site / "private").mkdir(mode=0o770)
    db_file = _db_file(Path(db_dir), domain) if db_dir is not None else site / "private" / "db.sqlite"
    if db_file.exists():
        raise ProvisionError(f"{db_file} exists (another site's database?): refusing to install over it.")
    db = DatabaseSettings(driver="sqlite", database=str(db_file))
    install_schema(Database(db, docroot), site_name=site_name, account_name="admin",
                   account_pass=secrets.token_urlsafe(12), account_mail="admin@example.test",
                   profile="standard", drupal=drupal)
    write_settings_php(site / "settings.php", render_settings_php(
        db, drupal=drupal, hash_salt=secrets.token_urlsafe(48), file_public_path=f"sites/{domain}/files",
        file_private_path=str(site / "private")))
    (site / "files" / ".stand-in-installed").write_text(site_name + "\n", encoding="utf-8")
    os.chmod(site / "files", 0o2775)
    return site
