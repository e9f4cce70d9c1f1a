"""Local Git repositories for the platform build tests: a bare repository holding Drupal-shaped
commits (provision.demo's platforms), tagged, built with the real git. Optionally a composer
project whose one package (the drush stand-in) comes from a path repository inside it, so that
`composer install` runs without the network."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from provision.demo import make_platform

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.test", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.test", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True, capture_output=True,
                          text=True, env={**os.environ, **ENV})
    return done.stdout.strip()


def composer_project(work: Path) -> None:
    """Make the Drupal-shaped tree at WORK a composer project: docroot in web/, vendor/ left to
    composer, which installs the drush stand-in from packages/drush (a path repository)."""
    package = work / "packages" / "drush"
    package.mkdir(parents=True)
    shutil.move(str(work / "vendor" / "bin" / "drush"), package / "drush")
    shutil.rmtree(work / "vendor")
    (package / "composer.json").write_text(json.dumps({
        "name": "harbormaster/drush-standin", "version": "1.0.0", "type": "library", "bin": ["drush"]}))
    (work / "composer.json").write_text(json.dumps({
        "name": "harbormaster/test-build", "type": "project", "minimum-stability": "stable",
        "repositories": [{"packagist.org": False},
                         {"type": "path", "url": "packages/*", "options": {"symlink": False}}],
        "require": {"harbormaster/drush-standin": "1.0.0"},
        "config": {"allow-plugins": {}},
    }, indent=2))
    (work / ".gitignore").write_text("/vendor/\n")


def drupal_repository(base: Path, *, composer: bool = False, name: str = "shop") -> tuple[Path, Path]:
    """A bare repository BASE/NAME.git with branch main: tag v1 (Drupal 10.3.1), then tag v2
    (10.3.2). Returns (the bare repository, its working copy)."""
    work = base / f"{name}-work"
    make_platform(work, drupal=10, composer=composer)
    if composer:
        composer_project(work)
    git("init", "--quiet", str(work))
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "Drupal 10.3.1", cwd=work)
    git("tag", "v1", cwd=work)
    docroot = work / "web" if composer else work
    version = docroot / "core" / "lib" / "Drupal.php"
    version.write_text(version.read_text().replace("10.3.1", "10.3.2"))
    git("commit", "--quiet", "-am", "Drupal 10.3.2", cwd=work)
    git("tag", "v2", cwd=work)
    bare = base / f"{name}.git"
    git("clone", "--quiet", "--bare", str(work), str(bare))
    return bare, work


def commit_all(work: Path, message: str) -> str:
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def push(work: Path, bare: Path, *refs: str) -> None:
    git("push", "--quiet", "--force", str(bare), *(refs or ("HEAD:main",)), cwd=work)
