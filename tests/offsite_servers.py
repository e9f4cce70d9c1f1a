"""Remotes the off-site tests start themselves on 127.0.0.1: a private sshd (SFTP) with its own
host key and one authorized key, and moto's standalone S3 server. Both stop with their fixture."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services import _missing, need_program


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited: {log.read_text() if log and log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on {port}")


@dataclass
class Sftp:
    port: int
    user: str
    root: Path          # the folder the remote writes into
    private_key: str    # PEM text
    host_key: str       # "ssh-ed25519 AAAA..."

    def options(self) -> dict[str, str]:
        return {"host": "127.0.0.1", "port": str(self.port), "user": self.user, "path": str(self.root),
                "host_key": self.host_key}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _start_sshd(base: Path) -> tuple[subprocess.Popen[bytes], Sftp]:
    """The recipe in shared/recipes/remotes.md: sshd by its absolute path, in the foreground (-D)
    so that the fixture owns its process."""
    sshd = "/usr/sbin/sshd"
    if not os.path.exists(sshd):
        _missing("openssh-server is not installed")
    keygen = need_program("ssh-keygen")
    base.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)], check=True)
    shutil.copy(base / "client_key.pub", base / "authorized_keys")
    os.chmod(base / "authorized_keys", 0o600)
    port = free_port()
    import pwd

    user = pwd.getpwuid(os.getuid()).pw_name
    (base / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host_key'}\n"
        f"AuthorizedKeysFile {base / 'authorized_keys'}\nPasswordAuthentication no\n"
        f"PidFile {base / 'sshd.pid'}\nStrictModes no\nSubsystem sftp internal-sftp\nUsePAM no\n")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen([sshd, "-D", "-f", str(base / "sshd_config"), "-E", str(base / "sshd.log")],
                            stdin=subprocess.DEVNULL)
    _wait_port(port, proc, "sshd", base / "sshd.log")
    root = base / "remote"
    root.mkdir()
    host_key = " ".join((base / "host_key.pub").read_text().split()[:2])
    return proc, Sftp(port, user, root, (base / "client_key").read_text(), host_key)


@pytest.fixture
def sftp_remote(tmp_path: Path) -> Iterator[Sftp]:
    need_program("rclone")
    proc, remote = _start_sshd(tmp_path / "sshd")
    try:
        yield remote
    finally:
        _stop(proc)


@dataclass
class S3:
    endpoint: str

    def options(self, bucket: str = "hm-backups") -> dict[str, str]:
        return {"endpoint": self.endpoint, "region": "us-east-1", "bucket": bucket, "path": "offsite"}

    @staticmethod
    def secrets() -> dict[str, str]:
        return {"access_key_id": "testing-key-id", "secret_access_key": "s3-secret-f9c2a71be04d"}


@pytest.fixture
def s3_remote(tmp_path: Path) -> Iterator[S3]:
    need_program("rclone")
    server = Path(sys.executable).with_name("moto_server")
    if not server.exists():
        _missing("moto[server] is not installed (the test extras)")
    port = free_port()
    log = tmp_path / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out,
                                stdin=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "moto_server", log)
        yield S3(f"http://127.0.0.1:{port}")
    finally:
        _stop(proc)
