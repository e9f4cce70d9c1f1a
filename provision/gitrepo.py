"""Platforms built from Git (and Composer): checking what the user typed, cloning a ref into a new
directory, and refusing a tree that points outside itself. Plain Python; every program runs
through the task's Runner (own process group, streamed and redacted output, tree killed on
cancel, timeout or deadline).

The repository is the user's: its URL and ref are checked before git sees them (no option
injection, no `ext::`/`fd::` transports, only the allowed protocols, enforced again by git
itself through GIT_ALLOW_PROTOCOL and protocol.allow), and its tree is checked after the clone
(no symlink may lead outside the checkout). Credentials never appear in an argument or a URL:
a token is handed to git by an askpass program reading it from the environment (which the
Runner redacts from every line), a deploy key by `ssh -i` naming its file."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from provision.errors import ProvisionError, UnsafePath
from provision.paths import PathLike, Roots
from provision.runner import Runner

DEFAULT_PROTOCOLS = ("https", "ssh", "file")
KNOWN_PROTOCOLS = ("https", "http", "ssh", "git", "file")
_SCP_LIKE = re.compile(r"^(?P<user>[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^:\s][^\s]*)$")
_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/+-]*$")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
ASKPASS = """#!/bin/sh
# Harbormaster's askpass for git over HTTPS: the token comes from the environment, never argv.
case "$1" in
  Username*) printf '%s\\n' "$HM_GIT_USERNAME" ;;
  *) printf '%s\\n' "$HM_GIT_TOKEN" ;;
esac
"""


@dataclass(frozen=True)
class Source:
    """A checked repository address: KIND is the protocol (https, ssh, file), URL what git gets."""

    url: str
    kind: str


@dataclass(frozen=True)
class Credential:
    """A secret for the clone: a TOKEN (HTTPS, with USERNAME) or a deploy KEY file (SSH)."""

    token: str = ""
    username: str = ""
    key_file: Path | None = None


def check_url(url: str, *, protocols: tuple[str, ...] = DEFAULT_PROTOCOLS, roots: Roots | None = None) -> Source:
    """URL as git may be given it, or ProvisionError saying why not."""
    url = (url or "").strip()
    if not url:
        raise ProvisionError("Give the repository's URL.")
    if len(url) > 1000 or _CONTROL.search(url):
        raise ProvisionError("The repository URL is too long or contains spaces or control characters.")
    if url.startswith("-"):
        raise ProvisionError("The repository URL must not start with '-'.")
    if "::" in url.split("/", 1)[0] or url.lower().startswith(("ext::", "fd::")):
        raise ProvisionError("Git's remote-helper transports (ext::, fd::, ...) are not allowed.")
    if url.startswith("/"):
        return _local(url, "file", protocols, roots)
    if "://" in url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in KNOWN_PROTOCOLS:
            raise ProvisionError(f"The protocol {scheme!r} is not allowed; allowed: {', '.join(protocols)}.")
        if scheme not in protocols:
            raise ProvisionError(f"The protocol {scheme!r} is not allowed here; allowed: {', '.join(protocols)}.")
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise ProvisionError("A file:// URL names a local path (file:///srv/repo.git).")
            return _local(parts.path, "file", protocols, roots, url=url)
        if parts.password is not None or (scheme in ("https", "http") and parts.username):
            raise ProvisionError("Put no credentials in the URL: keep the token as a secret and name it.")
        if not parts.hostname or parts.hostname.startswith("-") or (parts.username or "").startswith("-"):
            raise ProvisionError("The repository URL names no valid host.")
        return Source(url, scheme)
    found = _SCP_LIKE.match(url)
    if found and not found["host"].startswith("-"):
        if "ssh" not in protocols:
            raise ProvisionError(f"The protocol 'ssh' is not allowed here; allowed: {', '.join(protocols)}.")
        return Source(url, "ssh")
    raise ProvisionError("Not a repository URL: give https://, ssh://, user@host:path, file:// or an absolute path.")


def _local(path: str, kind: str, protocols: tuple[str, ...], roots: Roots | None, *, url: str = "") -> Source:
    if "file" not in protocols:
        raise ProvisionError(f"Local repositories are not allowed here; allowed: {', '.join(protocols)}.")
    if roots is not None:
        try:
            inside = roots.inside(path)
        except UnsafePath as exc:
            raise ProvisionError(f"A local repository must be inside the configured roots: {exc}") from None
        return Source(url or str(inside), kind)
    return Source(url or path, kind)


def check_ref(ref: str) -> str:
    """REF (a branch, a tag or a full commit id) as git may be given it, or ProvisionError."""
    ref = (ref or "").strip()
    if not ref:
        raise ProvisionError("Give the branch, tag or commit to build.")
    if ref.startswith("-"):
        raise ProvisionError("A ref must not start with '-'.")
    if (len(ref) > 200 or not _REF.match(ref) or ".." in ref or "//" in ref or ref.endswith(("/", ".", ".lock"))
            or "/." in ref):
        raise ProvisionError(f"{ref[:80]!r} is not a branch, tag or commit id git accepts here "
                             "(letters, digits, '.', '_', '-', '+', '/').")
    return ref


def git_environment(protocols: tuple[str, ...], credential: Credential | None, *, askpass: Path | None = None,
                    known_hosts: Path | None = None) -> dict[str, str]:
    """The environment of every git command: no prompt, no system or user config, only PROTOCOLS."""
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ALLOW_PROTOCOL": ":".join(protocols),
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
    }
    ssh = ["ssh", "-F", os.devnull, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new"]
    if known_hosts is not None:
        ssh += ["-o", f"UserKnownHostsFile={known_hosts}"]
    if credential is not None and credential.key_file is not None:
        ssh += ["-i", str(credential.key_file), "-o", "IdentitiesOnly=yes"]
    env["GIT_SSH_COMMAND"] = shlex.join(ssh)
    if credential is not None and credential.token:
        if askpass is None:
            raise ProvisionError("A token needs the askpass program.")
        # The Runner redacts the values of variables named like TOKEN from every line it logs.
        env.update({"GIT_ASKPASS": str(askpass), "HM_GIT_TOKEN": credential.token,
                    "HM_GIT_USERNAME": credential.username or "x-access-token"})
    return env


def write_askpass(directory: Path) -> Path:
    """The askpass program in DIRECTORY (Harbormaster's own), written when missing or changed."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "git-askpass"
    if not path.is_file() or path.is_symlink() or path.read_text() != ASKPASS:
        tmp = directory / f".git-askpass.{os.getpid()}"
        tmp.write_text(ASKPASS)
        tmp.chmod(0o700)
        os.replace(tmp, path)
    return path


def _protocol_config(protocols: tuple[str, ...]) -> list[str]:
    args = ["-c", "protocol.allow=never"]
    for name in protocols:
        args += ["-c", f"protocol.{name}.allow=always"]
    return args + ["-c", "core.hooksPath=/dev/null", "-c", "transfer.fsckObjects=true",
                   "-c", "advice.detachedHead=false", "-c", "init.defaultBranch=build"]


def clone(runner: Runner, source: Source, ref: str, dest: Path, *, protocols: tuple[str, ...],
          env: dict[str, str], timeout: float | None = None) -> str:
    """Check out REF of SOURCE into DEST (which must not exist), shallow where the server allows.
    Returns the commit id. DEST is left for the caller to remove on failure."""
    ref = check_ref(ref)
    if dest.exists() or dest.is_symlink():
        raise ProvisionError(f"{dest} exists already; nothing was changed.")
    git = ["git", *_protocol_config(protocols)]
    dest.mkdir(mode=0o755)
    runner.run([*git, "init", "--quiet", "--", str(dest)], env=env, timeout=timeout)
    in_dest = [*git, "-C", str(dest)]
    fetched = runner.run([*in_dest, "fetch", "--quiet", "--depth", "1", "--no-tags", "--", source.url, ref],
                         env=env, timeout=timeout, check=not _SHA.match(ref))
    if fetched != 0:
        # A commit id: servers that refuse shallow fetches of a commit get a full fetch.
        runner.run([*in_dest, "fetch", "--quiet", "--tags", "--", source.url,
                    "+refs/heads/*:refs/remotes/origin/*"], env=env, timeout=timeout)
        target = ref
    else:
        target = "FETCH_HEAD"
    runner.run([*in_dest, "checkout", "--quiet", "--detach", target, "--"], env=env, timeout=timeout)
    commit = _rev_parse(runner, in_dest, env, timeout)
    if _SHA.match(ref) and commit != ref:
        raise ProvisionError(f"The checkout is at {commit}, not at the commit {ref} asked for.")
    return commit


def _rev_parse(runner: Runner, in_dest: list[str], env: dict[str, str], timeout: float | None) -> str:
    import tempfile

    with tempfile.TemporaryFile() as out:
        runner.run([*in_dest, "rev-parse", "--verify", "HEAD^{commit}"], env=env, stdout=out, timeout=timeout,
                   quiet=True)
        out.seek(0)
        commit = out.read(200).decode("ascii", "replace").strip()
    if not _SHA.match(commit):
        raise ProvisionError("git did not say which commit it checked out.")
    return commit


def links_leaving(root: Path, *, limit: int = 20) -> list[str]:
    """The symlinks under ROOT whose target lies outside ROOT (absolute, through '..', or through
    another link), as 'path -> target' (at most LIMIT). .git is Harbormaster's and is left out.
    One scandir per directory, no stat per file: a Drupal checkout has tens of thousands."""
    root = root.resolve()
    found: list[str] = []
    pending = [str(root)]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                path = Path(entry.path)
                target = os.readlink(path)
                real = Path(os.path.normpath(path.parent / target))
                if os.path.isabs(target) or not (real == root or real.is_relative_to(root)) or \
                        not _resolves_inside(path, root):
                    found.append(f"{path.relative_to(root)} -> {target}")
                    if len(found) >= limit:
                        return found
            elif entry.is_dir(follow_symlinks=False) and not (directory == str(root) and entry.name == ".git"):
                pending.append(entry.path)
    return found


def _resolves_inside(path: Path, root: Path) -> bool:
    real = path.resolve(strict=False)
    return real == root or real.is_relative_to(root)


def refuse_links_leaving(root: Path) -> None:
    bad = links_leaving(root)
    if bad:
        raise ProvisionError("The repository holds symlinks that lead outside its checkout, refused: "
                             + "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))


def local_repositories_leaving(root: Path) -> list[str]:
    """The composer.json's path and artifact repositories that lie outside ROOT: composer would
    copy (or link) files from anywhere on the worker into the platform."""
    import json

    try:
        data = json.loads((root / "composer.json").read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        raise ProvisionError("composer.json is not valid JSON.") from None
    repos = data.get("repositories") if isinstance(data, dict) else None
    entries = list(repos.values()) if isinstance(repos, dict) else repos if isinstance(repos, list) else []
    found = []
    real_root = root.resolve()
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("type") not in ("path", "artifact"):
            continue
        url = str(entry.get("url") or "")
        where = Path(os.path.normpath(root / url.removeprefix("file://")))
        if os.path.isabs(url.removeprefix("file://")) or not where.resolve().is_relative_to(real_root):
            found.append(url)
    return found


def composer_install(runner: Runner, root: Path, *, composer_home: Path, timeout: float | None = None,
                     env: dict[str, str] | None = None) -> None:
    """`composer install --no-dev --no-interaction` in ROOT. The project's scripts do not run
    (--no-scripts: they are shell commands from the repository); its allowed plugins do. ENV: the
    git environment (protocols allowed), for packages that composer clones."""
    composer = shutil.which("composer")
    if composer is None:
        raise ProvisionError("The project has a composer.json but composer is not installed on the worker.")
    outside = local_repositories_leaving(root)
    if outside:
        raise ProvisionError("composer.json names path repositories outside the checkout, refused: "
                             + ", ".join(outside[:5]))
    composer_home.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {**(env or {}), "COMPOSER_HOME": str(composer_home), "COMPOSER_NO_INTERACTION": "1",
           "COMPOSER_ALLOW_SUPERUSER": "1", "COMPOSER_DISABLE_XDEBUG_WARN": "1", "GIT_TERMINAL_PROMPT": "0"}
    runner.run([composer, "install", "--no-dev", "--no-interaction", "--no-progress", "--no-scripts",
                "--working-dir", str(root)], cwd=root, env=env, timeout=timeout)


def remove_checkout(path: Path, roots: Roots) -> None:
    """Remove a checkout this build made (inside the roots; never following a link)."""
    if not (path.exists() or path.is_symlink()):
        return
    if path.is_symlink():
        path.unlink()
        return
    roots.inside(path, allow_root=False)

    def writable(func, name, _exc) -> None:  # noqa: ANN001 - shutil's onerror signature
        try:
            os.chmod(os.path.dirname(name), stat.S_IRWXU)
            func(name)
        except OSError:
            pass

    shutil.rmtree(path, onerror=writable)


def read_secret(directory: Path, name: str) -> Credential:
    """The secret NAME from DIRECTORY: an SSH private key (a file starting with -----BEGIN) or a
    token (`token` or `username:token` on its first line). The file must be the user's own and
    readable by no one else."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", name or ""):
        raise ProvisionError("A secret's name is lowercase letters, digits, '-' and '_'.")
    path = directory / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        raise ProvisionError(f"No secret named {name!r} (a file in the secrets directory).") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077 or info.st_uid != os.getuid():
            raise ProvisionError(f"The secret {name!r} must be a regular file of the worker's user, mode 0600.")
        text = handle.read(64 * 1024).decode("utf-8", "replace")
    if text.lstrip().startswith("-----BEGIN"):
        return Credential(key_file=path)
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not line:
        raise ProvisionError(f"The secret {name!r} is empty.")
    user, sep, token = line.partition(":")
    return Credential(token=token, username=user) if sep and user and token else Credential(token=line)


def list_secrets(directory: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(directory)
                      if e.is_file(follow_symlinks=False) and re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", e.name))
    except OSError:
        return []


def checkout_name(base: PathLike, name: str) -> Path:
    """The directory of platform NAME's checkout under BASE."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,62}", name):
        raise ProvisionError(f"{name!r} cannot name a directory.")
    return Path(base) / name
