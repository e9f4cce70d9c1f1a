"""A generator of Aegir 3 installations as the tests need them: the aegir user's ~/.drush with one
context file per server, platform and site (written as provision writes them, with var_export),
Drupal 7-shaped platforms (provision.demo) with installed sites, each with settings.php and the
drushrc.php Aegir leaves in the site directory."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.aegir_php import export_file
from provision.demo import add_site, make_platform
from provision.paths import safe_name
from provision.platform import find_docroot


@dataclass
class AegirInstall:
    drush: Path  # ~aegir/.drush
    base: Path  # where the platforms are
    db_dir: Path | None  # the SQLite directory of the server the site databases are on
    platforms: dict[str, Path] = field(default_factory=dict)  # context name -> root
    sites: dict[str, dict[str, Any]] = field(default_factory=dict)  # domain -> context

    def context(self, name: str, values: dict[str, Any]) -> Path:
        path = self.drush / f"{name}.alias.drushrc.php"
        path.write_text(export_file("aliases", {name: values}), encoding="utf-8")
        return path

    def server(self, name: str = "server_master", host: str = "localhost", http: str = "nginx") -> None:
        self.context(name, {"context_type": "server", "remote_host": host, "aegir_root": "/var/aegir",
                            "script_user": "aegir", "http_service_type": http, "db_service_type": "mysql",
                            "master_db": "mysql://aegir_root:not-shown@localhost", "ip_addresses": {}})

    def platform(self, name: str, *, root: Path | None = None, build: bool = True,
                 server: str = "server_master") -> Path:
        root = root or self.base / name.removeprefix("platform_")
        if build:
            make_platform(root, drupal=7)
        self.platforms[name] = root
        self.context(name, {"context_type": "platform", "server": f"@{server}", "web_server": f"@{server}",
                            "root": str(root), "makefile": "", "make_working_copy": False})
        return root

    def site(self, domain: str, platform: str, *, client: str = "admin", aliases: tuple[str, ...] = (),
             enabled: bool = True, redirection: str | bool = False, https: int = 0, build: bool = True,
             uri: str | None = None, profile: str = "standard") -> dict[str, Any]:
        root = self.platforms[platform]
        site_path = root / "sites" / domain
        if build:
            add_site(find_docroot(root), domain, drupal=7, db_dir=self.db_dir)
            db_name = safe_name(domain, 48)
            (site_path / "drushrc.php").write_text(export_file("options", {
                "db_type": "mysql", "db_host": "localhost", "db_port": "3306", "db_passwd": "x",
                "db_name": db_name, "db_user": db_name, "installed": True}), encoding="utf-8")
        values: dict[str, Any] = {
            "context_type": "site", "platform": f"@{platform}", "server": "@server_master",
            "db_server": "@server_master", "uri": uri or domain, "root": str(root), "site_path": str(site_path),
            "site_enabled": enabled, "language": "en", "client_name": client,
            "aliases": dict(enumerate(aliases)), "redirection": redirection, "cron_key": "k3y",
            "profile": profile, "drush_aliases": {}, "https_enabled": https,
            "https_client_authentication_enabled": False,
        }
        self.context(domain, values)
        self.sites[domain] = values
        return values

    def site_on_server(self, domain: str, platform: str, driver: Any, name: str, **context: Any) -> dict[str, Any]:
        """A site whose database NAME (user NAME) is on a database server, made as Aegir makes
        it (outside Harbormaster), with settings.php holding the credentials literally."""
        import os
        import secrets

        from provision.settings_php import render_settings_php, write_settings_php
        from provision.standin_db import Database, install_schema

        password = secrets.token_urlsafe(16)
        driver.create_database(name)
        driver.create_user(name, password)
        driver.grant(name, name)
        db = driver.settings_for(name, name, password)
        docroot = find_docroot(self.platforms[platform])
        site = docroot / "sites" / domain
        (site / "files").mkdir(parents=True)
        (site / "private").mkdir(mode=0o770)
        install_schema(Database(db, docroot), site_name=domain, account_name="admin", account_pass=password,
                       account_mail="admin@example.test", profile="standard", drupal=7)
        write_settings_php(site / "settings.php", render_settings_php(
            db, drupal=7, hash_salt=secrets.token_urlsafe(48), file_public_path=f"sites/{domain}/files",
            file_private_path=str(site / "private")))
        os.chmod(site / "files", 0o2775)
        (site / "drushrc.php").write_text(export_file("options", {"db_name": name, "db_user": name}), encoding="utf-8")
        return self.site(domain, platform, build=False, **context)

    def cloak(self, domain: str) -> None:
        """settings.php as Aegir writes it with cloaked credentials (from the vhost's environment)."""
        root = self.platforms[self.sites[domain]["platform"][1:]]
        (root / "sites" / domain / "settings.php").write_text(
            "<?php\nif (isset($_SERVER['db_name'])) {\n  $databases['default']['default'] = array(\n"
            "    'driver' => $_SERVER['db_type'],\n    'database' => $_SERVER['db_name'],\n"
            "    'username' => $_SERVER['db_user'],\n    'password' => $_SERVER['db_passwd'],\n"
            "    'host' => $_SERVER['db_host'],\n    'port' => (string) $_SERVER['db_port'],\n  );\n}\n",
            encoding="utf-8")

    def copy_site(self, domain: str, to_platform: str) -> None:
        """The same site directory on a second platform (a copy left by hand)."""
        source = self.platforms[self.sites[domain]["platform"][1:]] / "sites" / domain
        shutil.copytree(source, self.platforms[to_platform] / "sites" / domain)


def make_aegir(base: Path, db_dir: Path | None) -> AegirInstall:
    drush = base / "aegir" / ".drush"
    drush.mkdir(parents=True)
    return AegirInstall(drush=drush, base=base / "aegir" / "platforms", db_dir=db_dir)
