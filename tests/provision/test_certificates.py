"""provision.certificates against a real Pebble: the HTTP-01 tokens served from the challenge
directory by a plain HTTP server of the test's own; keys with strict modes; a refusing ACME
server leaves nothing behind."""
from __future__ import annotations

import functools
import http.server
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from provision import certificates
from provision.errors import ProvisionError
from tests.pebble import Pebble, pebble_server  # noqa: F401 - the fixture

DOMAIN = "shop.example.test"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def challenge_server(tmp_path: Path, pebble_server: Pebble) -> Iterator[Path]:  # noqa: F811
    """/.well-known/acme-challenge/ served from a directory, on Pebble's HTTP-01 port."""
    root = tmp_path / "www"
    challenge = root / ".well-known" / "acme-challenge"
    challenge.mkdir(parents=True)
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", pebble_server.http_port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield challenge
    finally:
        httpd.shutdown()
        httpd.server_close()


def _server(pebble: Pebble) -> certificates.AcmeServer:
    return certificates.AcmeServer(pebble.directory, ca_bundle=str(pebble.cert), email="ops@example.test",
                                   timeout=60)


def test_it_issues_a_certificate_by_http01(tmp_path, pebble_server, challenge_server):  # noqa: F811
    lines: list[str] = []
    tls = tmp_path / "data" / "tls"
    issued = certificates.issue(tls, challenge_server, _server(pebble_server),
                                [DOMAIN, "www.shop.example.test"], lines.append)
    assert set(issued.domains) == {DOMAIN, "www.shop.example.test"}
    assert "Pebble" in issued.issuer
    assert issued.not_after > issued.not_before
    assert issued.version.parent == tls / "sites" / DOMAIN
    for path in (issued.key, issued.fullchain, *(tls / "accounts").glob("*/key.pem")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in (tls / "accounts", tls / "sites" / DOMAIN, issued.version):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert list(challenge_server.iterdir()) == []  # tokens removed
    assert not any("PRIVATE KEY" in line for line in lines)

    # The account is reused: a second certificate registers nothing new.
    lines.clear()
    again = certificates.issue(tls, challenge_server, _server(pebble_server), [DOMAIN], lines.append)
    assert again.version != issued.version
    assert not any("Registered" in line for line in lines)
    assert certificates.remove_versions(tls, DOMAIN, keep=[again.version]) == 1
    assert again.key.is_file() and not issued.version.exists()


def test_a_refusing_acme_server_writes_no_key(tmp_path, pebble_server, challenge_server):  # noqa: F811
    pebble_server.stop()
    tls = tmp_path / "data" / "tls"
    with pytest.raises(ProvisionError) as caught:
        certificates.issue(tls, challenge_server, _server(pebble_server), [DOMAIN], lambda _line: None)
    assert pebble_server.directory in str(caught.value)
    assert not (tls / "sites").exists()


def test_an_unanswered_challenge_fails_clearly(tmp_path, pebble_server):  # noqa: F811
    # Nothing listens on Pebble's HTTP-01 port: validation fails, no key is kept.
    tls = tmp_path / "data" / "tls"
    challenge = tmp_path / "nowhere"
    with pytest.raises(ProvisionError) as caught:
        certificates.issue(tls, challenge, _server(pebble_server), [DOMAIN], lambda _line: None)
    assert "did not issue" in str(caught.value)
    assert not (tls / "sites").exists()
    assert not os.listdir(challenge)
