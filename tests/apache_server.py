"""A private Apache for the tests: its own ServerRoot, pid file and logs in a temporary
directory, one 127.0.0.1 port, only the modules the vhost templates need, run in the
foreground as a child of the test (in its own process group) and killed when the test ends.
Nothing here reads or touches the system's Apache configuration or a running system Apache."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.services import need_program, services_required

MODULE_DIR = Path("/usr/lib/apache2/modules")
MODULES = ["mpm_event", "authz_core", "dir", "mime", "rewrite", "proxy", "proxy_fcgi", "headers"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served_directory() -> Iterator[Path]:
    """A temporary directory Apache's children can reach. As root they run as www-data (Apache
    refuses to serve as root), and pytest's own tmp_path is under a 0700 directory."""
    path = Path(tempfile.mkdtemp(prefix="hm-apache-"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def need_apache() -> str:
    """The apache2 binary, or skip/fail the calling test (tests.services decides which)."""
    binary = need_program("apache2", "httpd")
    missing = [f"mod_{m}.so" for m in MODULES if not (MODULE_DIR / f"mod_{m}.so").exists()]
    if missing:
        reason = f"{', '.join(missing)} not found in {MODULE_DIR}"
        if services_required():
            pytest.fail(f"{reason} (HARBORMASTER_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return binary


def _user_lines() -> str:
    if os.geteuid() != 0:
        return ""  # children run as the test's user, who owns every file they serve
    for name in ("www-data", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return f"User #{entry.pw_uid}\nGroup #{entry.pw_gid}\n"
    raise RuntimeError("running as root and there is neither a www-data nor a nobody user")


def main_config(root: Path, vhosts: Path, port: int) -> str:
    """A self-contained main config: nothing from /etc/apache2 (or its envvars) is read."""
    modules = "\n".join(f"LoadModule {m}_module {MODULE_DIR}/mod_{m}.so" for m in MODULES)
    types = ("TypesConfig /etc/mime.types" if Path("/etc/mime.types").exists()
             else "TypesConfig /dev/null\nAddType text/html .html")
    return f"""ServerRoot "{root}"
ServerName 127.0.0.1
PidFile "{root}/run/apache2.pid"
DefaultRuntimeDir "{root}/run"
ErrorLog "{root}/error.log"
LogLevel warn
Listen 127.0.0.1:{port}
{modules}
{_user_lines()}StartServers 1
ServerLimit 2
ThreadLimit 4
ThreadsPerChild 4
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
KeepAlive Off
{types}
<Directory />
    AllowOverride None
    Require all denied
</Directory>
# The first vhost of the address answers names no site has.
<VirtualHost 127.0.0.1:{port}>
    ServerName unknown.invalid
    ErrorDocument 404 "no site here"
    RewriteEngine On
    RewriteRule ^ - [R=404]
</VirtualHost>
IncludeOptional "{vhosts}/*.conf"
"""


@dataclass
class Apache:
    binary: str
    root: Path
    vhosts: Path
    main: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def get(self, path: str, host: str, headers: dict[str, str] | None = None
            ) -> tuple[int, str, dict[str, str]]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                         headers={"Host": host, **(headers or {})})
        try:
            with opener.open(request, timeout=5) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), dict(exc.headers)

    def wait_for(self, path: str, host: str, status: int, text: str, timeout: float = 10.0) -> str:
        """A graceful restart is asynchronous: old children answer until new ones took over."""
        give_up = time.monotonic() + timeout
        while True:
            try:
                got = self.get(path, host)
            except OSError as exc:  # not listening yet
                got = (0, str(exc), {})
            if got[0] == status and text in got[1]:
                return got[1]
            if time.monotonic() > give_up:
                raise AssertionError(f"expected {status} with {text!r}, got {got[:2]}; "
                                     f"error log: {self.error_log()[-2000:]}")
            time.sleep(0.05)

    def error_log(self) -> str:
        try:
            return (self.root / "error.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""


def prepare(binary: str, base: Path, vhosts: Path | None = None) -> Apache:
    """A main config under BASE/apache that includes VHOSTS/*.conf (default BASE/apache/vhosts)."""
    root = base / "apache"
    vhosts = vhosts or root / "vhosts"
    for path in (root / "run", vhosts):
        path.mkdir(parents=True, exist_ok=True)
    port = free_port()
    main = root / "apache2.conf"
    main.write_text(main_config(root, vhosts, port))
    return Apache(binary, root, vhosts, main, port)


@contextmanager
def running(apache: Apache) -> Iterator[Apache]:
    """Start APACHE in the foreground as our child, wait until it answers, and stop it (and its
    children: its process group) afterwards, whatever happened."""
    log = open(apache.root / "console.log", "wb")  # noqa: SIM115 - closed below
    apache.process = subprocess.Popen(
        [apache.binary, "-d", str(apache.root), "-f", str(apache.main), "-D", "FOREGROUND"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        give_up = time.monotonic() + 15
        while True:
            if apache.process.poll() is not None:
                raise AssertionError(f"apache2 exited with {apache.process.returncode}: "
                                     f"{(apache.root / 'console.log').read_text(errors='replace')}"
                                     f"{apache.error_log()}")
            try:
                with socket.create_connection(("127.0.0.1", apache.port), timeout=1):
                    break
            except OSError as exc:
                if time.monotonic() > give_up:
                    raise AssertionError(f"apache2 did not listen on {apache.port}: {apache.error_log()}") from exc
                time.sleep(0.05)
        yield apache
    finally:
        stop_group(apache.process)
        log.close()


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server we started; whatever of it is left after 10 s (the master, or children
    it forked and no longer waits for) is SIGKILLed by pid, each checked to be the same process."""
    try:
        family = [psutil.Process(process.pid)]
        family += family[0].children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    for member in family:
        try:
            if member.is_running():  # same pid and start time: not a reused pid
                member.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


FPM_CONF = """[global]
pid = {dir}/php-fpm.pid
error_log = {dir}/php-fpm.log
daemonize = no

[site]
listen = {listen}
listen.mode = 0666
pm = static
pm.max_children = 2
clear_env = no
"""


@contextmanager
def php_fpm(directory: Path, listen: str) -> Iterator[str]:
    """A private php-fpm in the foreground, listening on LISTEN (a socket path or 127.0.0.1:port);
    yields the address in VhostSpec.php_fastcgi form. As root its pool runs as root, so it reads
    files only the test's user may read (settings.php)."""
    binary = need_program("php-fpm", "php-fpm8.4", "php-fpm8.3", "php-fpm8.2", "php-fpm8.1")
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "php-fpm.conf"
    conf.write_text(FPM_CONF.format(dir=directory, listen=listen))
    argv = [binary, "--nodaemonize", "-y", str(conf)]
    if os.geteuid() == 0:
        argv.insert(1, "--allow-to-run-as-root")
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        give_up = time.monotonic() + 15
        while not _fpm_ready(listen):
            if process.poll() is not None or time.monotonic() > give_up:
                log = directory / "php-fpm.log"
                raise AssertionError(f"php-fpm did not start: {log.read_text() if log.exists() else ''}")
            time.sleep(0.05)
        yield f"unix:{listen}" if listen.startswith("/") else listen
    finally:
        stop_group(process)


def _fpm_ready(listen: str) -> bool:
    if listen.startswith("/"):
        return Path(listen).exists()
    host, _, port = listen.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False
