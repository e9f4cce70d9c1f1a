"""A remote of the off-site copies and the rclone configuration of one run.

A remote's options (host, port, user, path; endpoint, region, bucket) are checked here, so that
nothing a person typed can become an rclone option, leave the remote's own folder (`..`) or reach
rclone's command line as anything but a path under that folder. Its secrets (an SSH private key
or password, S3 keys) never go on a command line or into the environment: `Session` writes them
to `rclone.conf` (mode 0600) in a fresh 0700 directory for the length of one run and removes it
after. The section is always named `remote`: the name people give a remote never reaches rclone."""
from __future__ import annotations

import base64
import ipaddress
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from provision.errors import ProvisionError

KINDS = ("sftp", "s3")
SECTION = "remote"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+=-]{0,127}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z0-9-]{1,32}$")
_PROVIDER = ("AWS", "Ceph", "Minio", "Wasabi", "DigitalOcean", "Other")
_HOST_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]{20,2000}$")
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")
SECRET_NAMES = {"sftp": ("private_key", "password"), "s3": ("access_key_id", "secret_access_key")}
OPTION_NAMES = {"sftp": ("host", "port", "user", "path", "host_key"),
                "s3": ("endpoint", "region", "bucket", "path", "provider")}

# rclone's `obscure` (fs/config/obscure): AES-CTR under a key published in its source. It is not
# protection (the file is 0600 and short-lived for that); rclone only reads passwords this way.
_OBSCURE_KEY = bytes.fromhex("9c935b48730a554d6bfd7c63c886a92bd390198eb8128afbf4de162b8b95f638")


class RemoteInvalid(ProvisionError):
    """A remote's name, kind, options or secrets are refused; FIELD says which."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _path(value: str, *, absolute: bool) -> str:
    """A folder path of the remote: plain segments only (no `..`, no option-like or hidden parts)."""
    text = value.strip()
    if absolute and not text.startswith("/"):
        raise RemoteInvalid("path", f"{text[:80]!r} is not an absolute path.")
    parts = [p for p in text.split("/") if p]
    for part in parts:
        if not _SEGMENT.match(part):
            raise RemoteInvalid("path", f"{part[:80]!r} is not allowed in a remote path: use letters, digits and "
                                        "_.@+=- in each part, not starting with '.' or '-' ('..' is refused).")
    return ("/" if absolute else "") + "/".join(parts)


def check_remote(name: str, kind: str, options: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, str]:
    """The remote's options, checked and normalised; raises RemoteInvalid."""
    if not NAME.match(name or ""):
        raise RemoteInvalid("name", f"{str(name)[:80]!r} is not a remote name: 1 to 63 lower-case letters, digits, "
                                    "'_' or '-', starting with a letter or digit.")
    if kind not in KINDS:
        raise RemoteInvalid("kind", f"{str(kind)[:40]!r} is not a kind of remote: {' or '.join(KINDS)}.")
    unknown = set(options) - set(OPTION_NAMES[kind])
    if unknown:
        raise RemoteInvalid(sorted(unknown)[0], f"A {kind} remote has no option {sorted(unknown)[0][:40]!r}.")
    unknown = set(secrets) - set(SECRET_NAMES[kind])
    if unknown:
        raise RemoteInvalid(sorted(unknown)[0], f"A {kind} remote has no secret {sorted(unknown)[0][:40]!r}.")
    for key, value in [*options.items(), *secrets.items()]:
        if any(c in str(value) for c in "\r\x00") or (key != "private_key" and "\n" in str(value)):
            raise RemoteInvalid(key, f"{key} holds a line break or a NUL character.")
    out: dict[str, str] = {}
    if kind == "sftp":
        host = str(options.get("host", "")).strip()
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not _HOST.match(host):
                raise RemoteInvalid("host", f"{host[:80]!r} is not a host name or address.") from None
        out["host"] = host
        port = str(options.get("port", "") or "22").strip()
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise RemoteInvalid("port", f"{port[:10]!r} is not a port.")
        out["port"] = str(int(port))
        user = str(options.get("user", "")).strip()
        if not _USER.match(user):
            raise RemoteInvalid("user", f"{user[:80]!r} is not a user name.")
        out["user"] = user
        out["path"] = _path(str(options.get("path", "")), absolute=True)
        host_key = " ".join(str(options.get("host_key", "")).split()[:2])
        if host_key and not _HOST_KEY.match(host_key):
            raise RemoteInvalid("host_key", "The host key is not an OpenSSH public key line (type and base64).")
        out["host_key"] = host_key
        if not (secrets.get("private_key") or secrets.get("password")):
            raise RemoteInvalid("private_key", "An SFTP remote needs a private key or a password.")
        key = secrets.get("private_key", "")
        if key and "PRIVATE KEY-----" not in key:
            raise RemoteInvalid("private_key", "The private key is not a PEM or OpenSSH private key.")
    else:
        endpoint = str(options.get("endpoint", "")).strip()
        if endpoint and not _URL.match(endpoint):
            raise RemoteInvalid("endpoint", f"{endpoint[:80]!r} is not an http(s) URL of a host (and port).")
        out["endpoint"] = endpoint.rstrip("/")
        region = str(options.get("region", "") or "us-east-1").strip()
        if not _REGION.match(region):
            raise RemoteInvalid("region", f"{region[:40]!r} is not a region name.")
        out["region"] = region
        bucket = str(options.get("bucket", "")).strip()
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise RemoteInvalid("bucket", f"{bucket[:80]!r} is not a bucket name.")
        out["bucket"] = bucket
        out["path"] = _path(str(options.get("path", "")), absolute=False)
        provider = str(options.get("provider", "") or "Other")
        if provider not in _PROVIDER:
            raise RemoteInvalid("provider", f"{provider[:40]!r} is not one of {', '.join(_PROVIDER)}.")
        out["provider"] = provider
        if not (secrets.get("access_key_id") and secrets.get("secret_access_key")):
            raise RemoteInvalid("secret_access_key", "An S3 remote needs an access key id and a secret access key.")
    return out


@dataclass(frozen=True)
class Remote:
    """A checked remote. OPTIONS as check_remote returns them; SECRETS never printed (repr)."""

    name: str
    kind: str
    options: Mapping[str, str]
    secrets: Mapping[str, str] = field(repr=False)

    @classmethod
    def make(cls, name: str, kind: str, options: Mapping[str, Any], secrets: Mapping[str, str]) -> Remote:
        return cls(name, kind, check_remote(name, kind, options, secrets), dict(secrets))

    def root(self) -> str:
        """The remote's own folder, as rclone names it (`remote:/srv/backups`, `remote:bucket/prefix`)."""
        if self.kind == "sftp":
            return f"{SECTION}:{self.options['path']}"
        prefix = self.options.get("path", "")
        return f"{SECTION}:{self.options['bucket']}" + (f"/{prefix}" if prefix else "")

    def under(self, *parts: str) -> str:
        """ROOT/PARTS, each part a plain segment (a server name, a domain, `objects`)."""
        for part in parts:
            for piece in part.split("/"):
                if not _SEGMENT.match(piece):
                    raise ProvisionError(f"{piece[:80]!r} cannot be part of a remote path.")
        return "/".join([self.root().rstrip("/"), *parts])

    def where(self) -> str:
        """What people are shown: no secret, no local path."""
        if self.kind == "sftp":
            return f"sftp://{self.options['user']}@{self.options['host']}:{self.options['port']}{self.options['path']}"
        prefix = f"/{self.options['path']}" if self.options.get("path") else ""
        return f"s3://{self.options['bucket']}{prefix}" + (f" at {self.options['endpoint']}"
                                                           if self.options.get("endpoint") else "")


def obscure(password: str) -> str:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(_OBSCURE_KEY), modes.CTR(iv)).encryptor()
    data = iv + encryptor.update(password.encode()) + encryptor.finalize()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _private_file(path: str, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)


class Session:
    """One run's rclone configuration. `argv(...)` starts every rclone command line with the
    config file and the shared flags; the secrets stay in the file."""

    def __init__(self, remote: Remote, directory: str, rclone: str) -> None:
        self.remote = remote
        self.directory = directory
        self.config = os.path.join(directory, "rclone.conf")
        self.rclone = rclone

    def argv(self, command: str, *args: str, flags: tuple[str, ...] = ()) -> list[str]:
        # Flags before `--`; after it, only the paths this module built (never option-like).
        return [self.rclone, command, "--config", self.config, "--retries", "2", "--low-level-retries", "3",
                "--contimeout", "15s", "--timeout", "60s", "--cache-dir", os.path.join(self.directory, "cache"),
                "--log-level", "ERROR", *flags, "--", *args]


def _config_text(remote: Remote, directory: str) -> str:
    lines = [f"[{SECTION}]", f"type = {remote.kind}"]
    options, secrets = remote.options, remote.secrets
    if remote.kind == "sftp":
        lines += [f"host = {options['host']}", f"port = {options['port']}", f"user = {options['user']}",
                  "shell_type = none", "disable_hashcheck = true", "key_use_agent = false"]
        if secrets.get("private_key"):
            key = os.path.join(directory, "key")
            _private_file(key, secrets["private_key"].strip() + "\n")
            lines.append(f"key_file = {key}")
        if secrets.get("password"):
            lines.append(f"pass = {obscure(secrets['password'])}")
        if options.get("host_key"):
            known = os.path.join(directory, "known_hosts")
            host = options["host"] if options["port"] == "22" else f"[{options['host']}]:{options['port']}"
            _private_file(known, f"{host} {options['host_key']}\n")
            lines.append(f"known_hosts_file = {known}")
    else:
        lines += ["provider = " + options.get("provider", "Other"), f"region = {options['region']}",
                  f"access_key_id = {secrets['access_key_id']}",
                  f"secret_access_key = {secrets['secret_access_key']}", "no_check_bucket = false"]
        if options.get("endpoint"):
            lines += [f"endpoint = {options['endpoint']}", "force_path_style = true"]
    return "\n".join(lines) + "\n"


@contextmanager
def session(remote: Remote, *, rclone: str | None = None, parent: str | None = None) -> Iterator[Session]:
    """The configuration of one run: a 0700 directory (under PARENT) holding rclone.conf (0600)
    and the key files, removed when the run ends, whatever happens."""
    program = rclone or shutil.which("rclone")
    if not program:
        raise ProvisionError("rclone is not installed: `apt-get install rclone` on this server.")
    directory = tempfile.mkdtemp(prefix="harbormaster-rclone-", dir=parent)  # 0700
    try:
        _private_file(os.path.join(directory, "rclone.conf"), _config_text(remote, directory))
        yield Session(remote, directory, program)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
