"""platform.build over SSH with a deploy key: a real sshd on 127.0.0.1 (its own config, host key
and authorized_keys, stopped after the test) serves a local bare repository; the build names the
key by its secret's name, and the key's text never reaches the task log."""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitrepos import drupal_repository
from tests.operations.conftest import log_of
from tests.services import _missing, need_program


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[dict[str, object]]:
    need_program("git", "ssh")
    daemon = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
    if daemon is None:
        _missing("sshd (openssh-server) is not installed")
    Path("/run/sshd").mkdir(exist_ok=True) if os.geteuid() == 0 else None
    here = tmp_path / "sshd"
    here.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(here / "host")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploy", "-f", str(here / "deploy")],
                   check=True)
    (here / "authorized_keys").write_text("restrict " + (here / "deploy.pub").read_text())
    (here / "authorized_keys").chmod(0o600)
    port = _free_port()
    (here / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {here / 'host'}\nPidFile {here / 'pid'}\n"
        f"AuthorizedKeysFile {here / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nAllowTcpForwarding no\n"
        f"AllowUsers {getpass.getuser()}\nLogLevel ERROR\n")
    proc = subprocess.Popen([daemon, "-D", "-e", "-f", str(here / "sshd_config")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                proc.kill()
                _missing(f"sshd did not start: {err.strip()[:300]}")
            time.sleep(0.1)
    try:
        yield {"port": port, "key": here / "deploy"}
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_it_builds_over_ssh_with_a_deploy_key(sshd, make_server, tmp_path, settings):
    from hosting.engine.worker import execute
    from hosting.platformbuild import start_build

    make_server("sqlite")
    bare, _work = drupal_repository(tmp_path / "repos")
    secrets = tmp_path / "data" / "git-secrets"
    secrets.mkdir(parents=True)
    shutil.copy(sshd["key"], secrets / "deploy")
    (secrets / "deploy").chmod(0o600)
    url = f"ssh://{getpass.getuser()}@127.0.0.1:{sshd['port']}{bare}"
    platform, task = start_build("command line", repository=url, ref="v2", secret="deploy")
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == "succeeded", log_of(task)
    platform.refresh_from_db()
    assert platform.drupal_version == "10.3.2" and platform.git_secret == "deploy"
    key_text = (secrets / "deploy").read_text()
    body = key_text.split("\n")[1]
    assert body not in log_of(task)
    # Without the key the same server refuses, and the build leaves nothing.
    other, task = start_build("command line", repository=url, ref="v1", name="nokey")
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == "failed" and "Permission denied" in task.summary, task.summary
    assert not Path(other.path).exists()
