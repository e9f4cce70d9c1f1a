"""A private ACME server for the tests: Debian's `pebble` (Let's Encrypt's test server) with
`pebble-challtestsrv` as its DNS, every name resolving to 127.0.0.1, on free ports of
127.0.0.1, with a certificate for Pebble's own listener made here. Validation of HTTP-01 goes
to <domain>:<http_port>: whatever listens there (the test's nginx) answers it.

`pebble_server` starts both and stops them (by pid) at the end; it skips when Pebble is not
installed, and fails instead when HARBORMASTER_REQUIRE_SERVICES=1."""
from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.services import need_program


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Pebble:
    base: Path
    port: int
    management: int
    http_port: int
    cert: Path  # the certificate of Pebble's own listener: the ACME client's CA bundle
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    def _management(self, path: str) -> str:
        context = ssl.create_default_context(cafile=str(self.cert))
        with urllib.request.urlopen(f"https://127.0.0.1:{self.management}{path}", context=context,
                                    timeout=10) as response:
            return response.read().decode()

    def trust(self) -> Path:
        """A bundle of Pebble's current root and intermediate (they change at every start)."""
        path = self.base / "issuing-roots.pem"
        path.write_text(self._management("/roots/0") + "\n" + self._management("/intermediates/0"))
        return path

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
        self.processes.clear()


def start_pebble(base: Path, pebble: str = "pebble", challtestsrv: str = "pebble-challtestsrv",
                 openssl: str = "openssl") -> Pebble:
    """Pebble and its DNS on free ports of 127.0.0.1, files under BASE; stop() ends both."""
    base.mkdir(parents=True, exist_ok=True)
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(base / "key.pem"),
                    "-out", str(base / "cert.pem"), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    port, management, http_port, dns, dns_management = (free_port() for _ in range(5))
    (base / "pebble.json").write_text(json.dumps({"pebble": {
        "listenAddress": f"127.0.0.1:{port}", "managementListenAddress": f"127.0.0.1:{management}",
        "certificate": str(base / "cert.pem"), "privateKey": str(base / "key.pem"),
        "httpPort": http_port, "tlsPort": free_port(), "ocspResponderURL": "",
        "externalAccountBindingRequired": False}}))
    server = Pebble(base, port, management, http_port, base / "cert.pem")
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
    env.pop("PEBBLE_VA_ALWAYS_VALID", None)
    try:
        with open(base / "challtestsrv.log", "wb") as out:
            server.processes.append(subprocess.Popen(
                [challtestsrv, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", f"127.0.0.1:{dns}",
                 "-http01", "", "-https01", "", "-tlsalpn01", "",
                 "-management", f"127.0.0.1:{dns_management}"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        with open(base / "pebble.log", "wb") as out:
            server.processes.append(subprocess.Popen(
                [pebble, "-config", str(base / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns}"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env))
        give_up = time.monotonic() + 20
        while not (_listening(port) and _listening(management)):
            if time.monotonic() > give_up or any(p.poll() is not None for p in server.processes):
                raise AssertionError("Pebble did not start: " + (base / "pebble.log").read_text()[-2000:]
                                     + (base / "challtestsrv.log").read_text()[-2000:])
            time.sleep(0.05)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture
def pebble_server(tmp_path: Path) -> Iterator[Pebble]:
    programs = need_program("pebble"), need_program("pebble-challtestsrv"), need_program("openssl")
    server = start_pebble(tmp_path / "pebble", *programs)
    try:
        yield server
    finally:
        server.stop()
