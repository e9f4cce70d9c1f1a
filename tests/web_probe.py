"""A Drupal-shaped site served by a real nginx and a real Apache (each with a private php-fpm) on
127.0.0.1, and what is sent to it: the URIs each vhost must refuse or serve, the crafted URIs
that made the old patterns backtrack, and a timed raw request. Shared by
tests/provision/test_web_patterns.py and bench/vhost_patterns.py."""
from __future__ import annotations

import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from provision.runner import Runner
from provision.web import VhostSpec, WebConfig, web_server_for
from provision.web.templates import APACHE_SITE, NGINX_SITE
from tests.apache_server import free_port, need_apache, php_fpm, prepare, running, served_directory
from tests.provision.test_web_apache import PROBE_PHP
from tests.provision.test_web_nginx import main_config as nginx_main_config
from tests.provision.test_web_nginx import stop as stop_nginx
from tests.services import need_program

HOST = "example.test"

# The longest URI each server takes in a request line `GET <uri> HTTP/1.0`: nginx's default
# large_client_header_buffers (8 KB for the line and its CRLF), Apache's LimitRequestLine 8190.
URI_LIMIT = {"nginx": 8177, "apache": 8178}

# The refusing patterns as they were before issue 23 (their cost grows with the square or the
# cube of the URI's length); the bench and the test that proves the timing check can fail put
# them back in place of today's.
OLD_NGINX_REFUSALS = r"""    location ~ (^|/)\.(?!well-known/) { return 403; }
    location ~* \.(engine|inc|install|make|module|profile|po|sh|.*sql|theme|twig|tpl(\.php)?|xtmpl|yml)(~|\.sw[op]|\.bak|\.orig|\.save)?$|/(Entries.*|Repository|Root|Tag|Template|composer\.(json|lock)|web\.config)$|\.php(~|\.sw[op]|\.bak|\.orig|\.save)$ { return 404; }
    location ~ ^/sites/[^/]+/private/ { return 403; }
    location ~ ^/sites/[^/]+/files/.*\.php$ { return 403; }
    location ~ /vendor/.*\.php$ { return 404; }
    location ~ \..*/.*\.php$ { return 403; }

"""
OLD_APACHE_REWRITES = {
    '"(?s)^(?>(?:.*?/)??vendor/).*\\.php($|/)"': '"(^|/)vendor/.*\\.php($|/)"',
    '"(?s)^(autoload|.[^/]*/.*)\\.php($|/)"': '"^(.+/.*|autoload)\\.php($|/)"',
}
OLD_APACHE_FILES = r"""    <FilesMatch "\.(engine|inc|install|make|module|profile|po|sh|.*sql|theme|twig|tpl(\.php)?|xtmpl|yml)(~|\.sw[op]|\.bak|\.orig|\.save)?$|^(Entries.*|Repository|Root|Tag|Template|composer\.(json|lock)|web\.config)$|\.php(~|\.sw[op]|\.bak|\.orig|\.save)$">
        Require all denied
    </FilesMatch>

"""


def _between(text: str, start: str, end: str, new: str) -> str:
    head, found, rest = text.partition(start)
    assert found, start
    _, found, tail = rest.partition(end)
    assert found, end
    return head + new + end + tail


def old_nginx_site() -> str:
    text = _between(NGINX_SITE, "    location ~ (^|/)", "    location / {", OLD_NGINX_REFUSALS)
    assert r"^(?=.*$)(.+?\.php)(|/.*)$" in text
    return text.replace(r"^(?=.*$)(.+?\.php)(|/.*)$", r"^(.+?\.php)(|/.*)$")


def old_apache_site() -> str:
    text = APACHE_SITE
    for new, old in OLD_APACHE_REWRITES.items():
        assert new in text, new
        text = text.replace(new, old)
    return _between(text, '    <FilesMatch "(?s)\\.(engine', '    <FilesMatch "\\.php$">', OLD_APACHE_FILES)


# What a Drupal platform holds, as far as the vhosts care (DESIGN.md §5: Drupal itself is mocked).
FILES = {
    "index.php": PROBE_PHP, "update.php": PROBE_PHP, "autoload.php": PROBE_PHP,
    "core/install.php": PROBE_PHP, "core/authorize.php": PROBE_PHP, "core/rebuild.php": PROBE_PHP,
    "core/modules/statistics/statistics.php": PROBE_PHP, "core/modules/m/deep.php": PROBE_PHP,
    "vendor/x/v.php": PROBE_PHP, "vendor/x/readme.txt": "vendor text",
    f"sites/{HOST}/files/evil.php": PROBE_PHP, f"sites/{HOST}/files/a.css": "css",
    f"sites/{HOST}/files/report.pdf": "pdf", f"sites/{HOST}/files/vendor/up.txt": "upload",
    f"sites/{HOST}/private/p.txt": "private", f"sites/{HOST}/settings.php": PROBE_PHP,
    ".env": "secret", ".git/config": "secret", ".well-known/acme-challenge/tok": "acme",
    "core/core.services.yml": "yml", "composer.json": "{}", "composer.lock": "{}", "web.config": "x",
    "modules/m/m.module": "<?php", "modules/m/m.install": "<?php", "modules/m/m.info.yml": "yml",
    "modules/m/m.inc": "<?php", "themes/t/page.tpl.php": "<?php", "themes/t/t.theme": "<?php",
    "themes/t/node.html.twig": "twig", "modules/m/translations/de.po": "po", "scripts/run.sh": "sh",
    "backup.sql": "dump", "db.mysql": "dump", "a.b/dump.pgsql": "dump", "CVS/Entries": "cvs",
    "CVS/Entries.Log": "cvs", "index.php.bak": "old", "index.php~": "old", "index.php.orig": "old",
    "settings.php.swp": "old", "robots.txt": "robots", "favicon.ico": "icon", "core/misc/d.js": "js",
    "themes/t/logo.svg": "svg", "README.txt": "readme",
    f"sites/{HOST}/files/nl\nx.php": PROBE_PHP, "nl\nx.b/c.php": PROBE_PHP, "nl\ndump.sql": "dump",
}

SERVED, REFUSED = "served", "refused"

# (URI, what the request must get from nginx, from Apache). An int is the status of a refusal
# (nothing of the file in the body); a str is the text the 200 answer holds. Found by asking the
# old vhosts (before issue 23) every one of these: the new ones answer the same.
TABLE: list[tuple[str, int | str, int | str]] = [
    ("/", "php ran: index.php", "php ran: index.php"),
    ("/node/1?page=2", "php ran: index.php", "php ran: index.php"),
    ("/user/login", "php ran: index.php", "php ran: index.php"),
    ("/index.php", "php ran: index.php", "php ran: index.php"),
    ("/update.php", "php ran: update.php", "php ran: update.php"),
    ("/update.php/selection", "php ran: update.php", "php ran: update.php"),
    ("/core/install.php", "php ran: install.php", "php ran: install.php"),
    ("/core/authorize.php", "php ran: authorize.php", "php ran: authorize.php"),
    ("/core/rebuild.php", "php ran: rebuild.php", "php ran: rebuild.php"),
    ("/core/modules/statistics/statistics.php", "php ran: statistics.php", "php ran: statistics.php"),
    (f"/sites/{HOST}/files/styles/thumbnail/public/x.png", "php ran: index.php", "php ran: index.php"),
    (f"/sites/{HOST}/files/a.css", "css", "css"),
    (f"/sites/{HOST}/files/report.pdf", "pdf", "pdf"),
    (f"/sites/{HOST}/files/vendor/up.txt", "upload", "upload"),
    ("/vendor/x/readme.txt", "vendor text", "vendor text"),
    ("/system/files/doc.pdf", "php ran: index.php", "php ran: index.php"),
    ("/de/system/files/doc.pdf", "php ran: index.php", "php ran: index.php"),
    ("/.well-known/acme-challenge/tok", "acme", "acme"),
    ("/robots.txt", "robots", "robots"),
    ("/core/misc/d.js", "js", "js"),
    ("/themes/t/logo.svg", "svg", "svg"),
    ("/README.txt", "readme", "readme"),
    ("/sql", "php ran: index.php", "php ran: index.php"),
    ("/mysql/node", "php ran: index.php", "php ran: index.php"),
    ("/blog/sql-tips", "php ran: index.php", "php ran: index.php"),
    ("/a.b/c.d", "php ran: index.php", "php ran: index.php"),
    # Refused.
    ("/core/modules/m/deep.php", "php ran: deep.php", 403),
    ("/core/modules/m/deep.php/x", "php ran: index.php", 403),
    (f"/sites/{HOST}/files/evil.php", 403, 403),
    (f"/sites/{HOST}/files/evil.php/x", "php ran: index.php", 403),
    (f"/sites/{HOST}/files/sub/new.php", 403, "php ran: index.php"),
    (f"/sites/{HOST}/settings.php", 403, 403),
    (f"/sites/{HOST}/private/p.txt", 403, 403),
    ("/vendor/x/v.php", 404, 404),
    ("/vendor/x/v.php/y", "php ran: index.php", 404),
    ("/autoload.php", "php ran: autoload.php", 403),
    ("/.env", 403, 403), ("/.git/config", 403, 403), ("/.well-known", 403, 403),
    ("/modules/m/.htaccess", 403, 403),
    ("/core/core.services.yml", 404, 403), ("/modules/m/m.info.yml", 404, 403),
    ("/composer.json", 404, 403), ("/composer.lock", 404, 403), ("/web.config", 404, 403),
    ("/modules/m/m.module", 404, 403), ("/modules/m/m.install", 404, 403), ("/modules/m/m.inc", 404, 403),
    ("/themes/t/page.tpl.php", 404, 403), ("/themes/t/t.theme", 404, 403),
    ("/themes/t/node.html.twig", 404, 403), ("/modules/m/translations/de.po", 404, 403),
    ("/scripts/run.sh", 404, 403), ("/backup.sql", 404, 403), ("/db.mysql", 404, 403),
    ("/a.b/dump.pgsql", 404, 403), ("/BACKUP.SQL", 404, "php ran: index.php"),
    ("/x.y/notes/mysql", 404, "php ran: index.php"),
    ("/CVS/Entries", 404, 403), ("/CVS/Entries.Log", 404, 403),
    ("/index.php.bak", 404, 403), ("/index.php~", 404, 403), ("/index.php.orig", 404, 403),
    ("/settings.php.swp", 404, 403),
    ("/a.b/c.php", 403, "php ran: index.php"),
]
# With a newline (%0A) in the URI, where the old patterns' `.` stopped: they ran PHP uploaded
# to sites/*/files, and served what they refuse without the newline.
NEWLINE_TABLE: list[tuple[str, int | str, int | str]] = [
    (f"/sites/{HOST}/files/nl%0Ax.php", 403, 403),
    ("/nl%0Ax.b/c.php", 403, 403),
    ("/nl%0Adump.sql", 404, 403),
]


@dataclass
class Site:
    """One server serving the site: where to send requests."""

    kind: str
    port: int
    error_log: Path

    def get(self, uri: str, host: str = HOST, timeout: float = 120.0) -> tuple[float, int, bytes]:
        """Send `GET URI` as it is (no encoding added) and read the answer: (seconds, status, body)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as conn:
            started = time.perf_counter()
            conn.sendall(f"GET {uri} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode("latin-1"))
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
            elapsed = time.perf_counter() - started
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        return elapsed, int(head.split(b" ", 2)[1]), body

    def baseline(self, rounds: int = 15) -> float:
        """The median cost of a normal request (a clean URL answered by index.php), in seconds."""
        return statistics.median(self.get("/node/1")[0] for _ in range(rounds))


def build_site(base: Path) -> VhostSpec:
    docroot = base / "platform" / "web"
    for name, text in FILES.items():
        (docroot / name).parent.mkdir(parents=True, exist_ok=True)
        (docroot / name).write_text(text)
    return VhostSpec(HOST, [f"www.{HOST}"], docroot, docroot / "sites" / HOST, "127.0.0.1:9")


def _with_php(spec: VhostSpec, php: str) -> VhostSpec:
    return VhostSpec(spec.domain, spec.aliases, spec.docroot, spec.site_dir, php)


@contextmanager
def nginx_site(base: Path, spec: VhostSpec, template: str | None = None) -> Iterator[Site]:
    """A private nginx master (one worker, as in the issue's figures) with SPEC's vhost."""
    binary = need_program("nginx")
    prefix = base / "nginx"
    for sub in ("conf", "tmp", "vhosts"):
        (prefix / sub).mkdir(parents=True)
    shutil.copy("/etc/nginx/fastcgi_params", prefix / "conf" / "fastcgi_params")
    main, port = prefix / "conf" / "nginx.conf", free_port()
    main.write_text(nginx_main_config(prefix, prefix / "vhosts", port))
    error_log = prefix / "error.log"
    subprocess.run([binary, "-e", str(error_log), "-p", f"{prefix}/", "-c", str(main)],
                   check=True, timeout=10, capture_output=True)
    pid_file = prefix / "nginx.pid"
    give_up = time.monotonic() + 5
    while not pid_file.exists() and time.monotonic() < give_up:
        time.sleep(0.02)
    try:
        config = WebConfig("nginx", vhost_dir=prefix / "vhosts", listen=(f"127.0.0.1:{port}",), binary=binary,
                           main_config=main, prefix=prefix, extra_args=("-e", str(error_log)), template=template)
        site = Site("nginx", port, error_log)
        _write_and_wait(web_server_for(config, Runner(lambda level, line: None)).write_vhost, spec, site)
        _old_workers_gone(int(pid_file.read_text()))
        yield site
    finally:
        stop_nginx(int(pid_file.read_text()))


def _old_workers_gone(master_pid: int) -> None:
    """Wait until the reload's old worker has exited. One new worker answering the vhost does not
    mean the old one stopped accepting: until it has, a request may reach it and get the
    default server's 404 in microseconds, as if the vhost's patterns cost nothing."""
    master = psutil.Process(master_pid)
    give_up = time.monotonic() + 15
    while len([c for c in master.children() if c.status() != psutil.STATUS_ZOMBIE]) > 1:
        if time.monotonic() > give_up:
            raise AssertionError("nginx's old worker did not exit after the reload")
        time.sleep(0.02)


@contextmanager
def apache_site(base: Path, spec: VhostSpec, template: str | None = None) -> Iterator[Site]:
    """A private Apache (tests/apache_server.py) with SPEC's vhost."""
    apache = prepare(need_apache(), base)
    with running(apache):
        config = WebConfig("apache", vhost_dir=apache.vhosts, listen=(f"127.0.0.1:{apache.port}",),
                           binary=apache.binary, main_config=apache.main, prefix=apache.root, template=template)
        site = Site("apache", apache.port, apache.root / "error.log")
        _write_and_wait(web_server_for(config, Runner(lambda level, line: None)).write_vhost, spec, site)
        yield site


def _write_and_wait(write: Callable[[VhostSpec], Path], spec: VhostSpec, site: Site) -> None:
    write(spec)
    give_up = time.monotonic() + 15
    while True:  # a reload is asynchronous: old workers answer until the new ones took over
        try:
            if b"php ran: index.php" in site.get("/", timeout=5)[2]:
                return
        except OSError:
            pass
        if time.monotonic() > give_up:
            raise AssertionError(f"{site.kind} does not serve {spec.domain}: {site.error_log.read_text()[-2000:]}")
        time.sleep(0.05)


@contextmanager
def served(kinds: tuple[str, ...] = ("nginx", "apache"), templates: dict[str, str] | None = None
           ) -> Iterator[dict[str, Site]]:
    """The site served by each server of KINDS (with TEMPLATES[kind] instead of the driver's own
    template where given), and one php-fpm for all of them."""
    with ExitStack() as stack:
        base = stack.enter_context(served_directory())
        spec = build_site(base)
        php = stack.enter_context(php_fpm(base / "fpm", f"127.0.0.1:{free_port()}"))
        spec = _with_php(spec, php)
        starts = {"nginx": nginx_site, "apache": apache_site}
        yield {kind: stack.enter_context(starts[kind](base / kind, spec, (templates or {}).get(kind)))
               for kind in kinds}


# Crafted URIs: each family repeats a unit that one of the old patterns retried at every position,
# ending so that the pattern fails (the expensive case). %0A is a newline in nginx's decoded URI.
FAMILIES: dict[str, tuple[str, str, str]] = {  # name: (head, unit, tail)
    "a.php/": ("/", "a.php/", ""),
    "a.php/ after a dot": ("/x.y", "a.php/", "x"),
    "dots": ("/a", ".", ""),
    ".s": ("/a", ".s", ""),
    "a.b/": ("/", "a.b/", ""),
    "files/ deep": (f"/sites/{HOST}/files/", "a/b.c/", "x"),
    "files/ a.php/": (f"/sites/{HOST}/files/", "a.php/", ""),
    "vendor/": ("/", "vendor/", "x"),
    "Entries then a newline": ("/", "Entries", "%0Ax"),
    "update.php/ a.php/ then a newline": ("/update.php/", "a.php/", "%0Ax"),
    "index.php/ a/": ("/index.php/", "a/", "x"),
    "index.php/ vendor/": ("/index.php/", "vendor/", "x"),
}


def fill(head: str, unit: str, tail: str, length: int) -> str:
    """HEAD, UNIT repeated, TAIL: at most LENGTH characters as sent."""
    count = max(1, (length - len(head) - len(tail)) // len(unit))
    return head + unit * count + tail


def sizes(limit: int) -> list[int]:
    """Lengths to try, short to long, ending at LIMIT."""
    return [n for n in (300, 600, 1200, 2400, 3600, 4800) if n < limit] + [limit]


@dataclass(frozen=True)
class Cost:
    family: str
    length: int
    seconds: float
    status: int


def cost(site: Site, uri: str, over: float, tries: int = 3) -> tuple[float, int]:
    """The cost of URI: the fastest of up to TRIES requests, the next sent only while the last
    cost more than OVER seconds (a backtracking pattern is slow every time, a busy machine once)."""
    best, status = float("inf"), 0
    for _ in range(tries):
        seconds, status, _ = site.get(uri)
        best = min(best, seconds)
        if best <= over:
            break
    return best, status


def crafted_costs(site: Site, over: float, families: dict[str, tuple[str, str, str]] = FAMILIES
                  ) -> list[Cost]:
    """Each family's URIs from short to the server's limit; a family stops at its first URI
    that costs more than OVER seconds (the longer ones would cost more: seconds to minutes)."""
    costs = []
    for name, (head, unit, tail) in families.items():
        for length in sizes(URI_LIMIT[site.kind]):
            seconds, status = cost(site, fill(head, unit, tail, length), over)
            costs.append(Cost(name, length, seconds, status))
            if seconds > over:
                break
    return costs
