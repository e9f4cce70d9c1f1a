"""provision.gitrepo: what a repository URL and a ref may be, how a token reaches git (askpass
from the environment: never in an argument, a URL or a logged line; checked against a real
HTTP server on 127.0.0.1 that asks for Basic credentials), a deploy key's ssh command, the
secrets' file checks, and that git is killed at its timeout."""
from __future__ import annotations

import base64
import http.server
import os
import threading
import time
from collections.abc import Iterator

import pytest

from provision import gitrepo
from provision.errors import ProvisionError, TimedOut
from provision.paths import Roots
from provision.runner import Runner
from tests.services import need_program

ALL = ("https", "http", "ssh", "file")


@pytest.mark.parametrize("url", [
    "https://git.example.test/shop.git", "ssh://git@git.example.test/shop.git", "git@git.example.test:org/shop.git",
])
def test_it_accepts_the_usual_addresses(url):
    assert gitrepo.check_url(url).url == url


@pytest.mark.parametrize("url,why", [
    ("ext::sh -c id", "control"), ("ext::sh", "transports"), ("fd::17", "transports"),
    ("-uhttps://x", "must not start"), ("--upload-pack=id", "must not start"),
    ("http://git.example.test/r.git", "not allowed"), ("git://git.example.test/r", "not allowed"),
    ("https://u:p@git.example.test/r.git", "no credentials"), ("https://tok@git.example.test/r.git", "no credentials"),
    ("gopher://x/y", "not allowed"), ("file://otherhost/srv/r.git", "local path"), ("relative/path", "Not a"),
    ("ssh://-oProxyCommand=id/x", "no valid host"), ("ssh://-oProxyCommand=id@host/x", "no valid host"),
    ("-oProxyCommand=id:x", "must not start"),
])
def test_it_refuses_what_git_must_not_be_given(url, why):
    with pytest.raises(ProvisionError, match=why):
        gitrepo.check_url(url)


def test_local_repositories_must_be_inside_the_roots(tmp_path):
    roots = Roots([tmp_path])
    assert gitrepo.check_url(str(tmp_path / "r.git"), roots=roots).kind == "file"
    for outside in ("/etc", "file:///etc", f"{tmp_path}/../x"):
        with pytest.raises(ProvisionError):
            gitrepo.check_url(outside, roots=roots)
    with pytest.raises(ProvisionError, match="not allowed"):
        gitrepo.check_url(str(tmp_path / "r.git"), protocols=("https",), roots=roots)


@pytest.mark.parametrize("ref", ["main", "v1.2.0", "release/2024-01", "refs/tags/v1", "a" * 40, "8.x-1.0+rc1"])
def test_it_accepts_branches_tags_and_commits(ref):
    assert gitrepo.check_ref(ref) == ref


@pytest.mark.parametrize("ref", ["", "-b", "--upload-pack=id", "main:refs/heads/x", "+main", "a..b", "HEAD@{1}",
                                 "x y", "x\nmain", "a//b", "a/", "x.lock", "~1", "^main", "ma*n", "a/.b"])
def test_it_refuses_options_refspecs_and_revision_syntax(ref):
    with pytest.raises(ProvisionError):
        gitrepo.check_ref(ref)


def test_a_deploy_key_is_named_by_its_file_and_a_token_only_in_the_environment(tmp_path):
    key = gitrepo.Credential(key_file=tmp_path / "deploy key")
    env = gitrepo.git_environment(ALL, key, known_hosts=tmp_path / "known_hosts")
    assert "-i '" + str(tmp_path / "deploy key") + "'" in env["GIT_SSH_COMMAND"]
    assert "IdentitiesOnly=yes" in env["GIT_SSH_COMMAND"] and "BatchMode=yes" in env["GIT_SSH_COMMAND"]
    assert env["GIT_ALLOW_PROTOCOL"] == "https:http:ssh:file" and env["GIT_TERMINAL_PROMPT"] == "0"
    token = gitrepo.git_environment(ALL, gitrepo.Credential(token="t0ken-value"), askpass=tmp_path / "askpass")
    assert token["HM_GIT_TOKEN"] == "t0ken-value" and token["GIT_ASKPASS"] == str(tmp_path / "askpass")
    assert "t0ken-value" not in token["GIT_SSH_COMMAND"]


def test_secrets_are_private_regular_files(tmp_path):
    (tmp_path / "tok").write_text("alice:s3cret-token\n")
    (tmp_path / "tok").chmod(0o600)
    assert gitrepo.read_secret(tmp_path, "tok") == gitrepo.Credential(token="s3cret-token", username="alice")
    (tmp_path / "key").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n")
    (tmp_path / "key").chmod(0o600)
    assert gitrepo.read_secret(tmp_path, "key").key_file == tmp_path / "key"
    (tmp_path / "open").write_text("token")
    (tmp_path / "open").chmod(0o644)
    with pytest.raises(ProvisionError, match="0600"):
        gitrepo.read_secret(tmp_path, "open")
    os.symlink(tmp_path / "tok", tmp_path / "link")
    for name in ("link", "../tok", "missing"):
        with pytest.raises(ProvisionError):
            gitrepo.read_secret(tmp_path, name)
    assert gitrepo.list_secrets(tmp_path) == ["key", "open", "tok"]


class _Git(http.server.BaseHTTPRequestHandler):
    """Asks for Basic credentials, records what it gets, then says the repository is not there;
    under /slow/ it never answers."""

    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/slow/"):
            time.sleep(30)
            return
        auth = self.headers.get("Authorization")
        if auth is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        type(self).seen.append(auth)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Git.seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Git)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_git_gets_the_token_from_askpass_and_no_line_shows_it(server, tmp_path):
    need_program("git")
    lines: list[str] = []
    token = "glpat-" + "Z9y8X7w6" * 3
    runner = Runner(lambda level, line: lines.append(line), home=str(tmp_path / "home"))
    env = gitrepo.git_environment(ALL, gitrepo.Credential(token=token, username="deployer"),
                                  askpass=gitrepo.write_askpass(tmp_path / "git"))
    with pytest.raises(ProvisionError) as failed:
        gitrepo.clone(runner, gitrepo.Source(f"{server}/shop.git", "http"), "main", tmp_path / "co", protocols=ALL,
                      env=env, timeout=20)
    assert _Git.seen == ["Basic " + base64.b64encode(f"deployer:{token}".encode()).decode()]
    assert token not in "\n".join(lines) + str(failed.value)
    assert any(line.startswith("$ git ") for line in lines)


def test_git_is_killed_at_its_timeout(server, tmp_path):
    need_program("git")
    runner = Runner(lambda level, line: None, home=str(tmp_path / "home"))
    env = gitrepo.git_environment(ALL, None)
    started = time.monotonic()
    with pytest.raises(TimedOut):
        gitrepo.clone(runner, gitrepo.Source(f"{server}/slow/shop.git", "http"), "main", tmp_path / "co",
                      protocols=ALL, env=env, timeout=1.5)
    assert time.monotonic() - started < 10


def test_it_finds_links_leaving_the_checkout(tmp_path):
    root = tmp_path / "co"
    (root / "web" / "sites").mkdir(parents=True)
    os.symlink("../web", root / "web" / "up-ok")          # inside: allowed
    os.symlink("/etc", root / "web" / "etc")
    os.symlink("../../../outside", root / "web" / "sites" / "out")
    os.symlink("sites/out", root / "web" / "chained")     # inside by its text, outside once resolved
    found = sorted(gitrepo.links_leaving(root))
    assert found == ["web/chained -> sites/out", "web/etc -> /etc", "web/sites/out -> ../../../outside"]


def test_it_finds_composer_path_repositories_outside_the_checkout(tmp_path):
    import json

    root = tmp_path / "co"
    root.mkdir()
    (root / "composer.json").write_text(json.dumps({"repositories": [
        {"type": "path", "url": "packages/*"}, {"type": "path", "url": "/etc"},
        {"type": "path", "url": "../other-platform"}, {"type": "artifact", "url": "file:///srv/zips"},
        {"type": "vcs", "url": "https://git.example.test/x.git"}]}))
    assert gitrepo.local_repositories_leaving(root) == ["/etc", "../other-platform", "file:///srv/zips"]
    runner = Runner(lambda level, line: None, home=str(tmp_path / "home"))
    need_program("composer")
    with pytest.raises(ProvisionError, match="outside the checkout"):
        gitrepo.composer_install(runner, root, composer_home=tmp_path / "ch")


def test_a_checkout_is_named_by_a_node_name_only(tmp_path):
    assert gitrepo.checkout_name(tmp_path, "shop-v1.2_x") == tmp_path / "shop-v1.2_x"
    for bad in ("..", ".", "a/b", "-x", "", "A"):
        with pytest.raises(ProvisionError):
            gitrepo.checkout_name(tmp_path, bad)
