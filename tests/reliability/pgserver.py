"""A private PostgreSQL server for tests that restart or kill their control database: its own
data directory under /tmp, 127.0.0.1 on a free port, no Unix socket, run as `postgres` when the
tests run as root. The machine's shared server on 5432 is never touched; every process ended
here is this server's own (its postmaster's pid, from its data directory, and that pid's
children)."""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from tests.services import need_postgresql_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivatePostgres:
    def __init__(self) -> None:
        self.bindir, self.user = need_postgresql_server()
        self.dir = Path(tempfile.mkdtemp(prefix="hm-pg-"))
        if self.user:
            shutil.chown(self.dir, self.user, self.user)
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()

    def _run(self, program: str, *args: str, timeout: float = 60) -> str:
        command = [str(self.bindir / program), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                               f"\n{self.log_tail()}")
        return done.stdout

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8", "--locale=C")

    def start(self) -> None:
        # fsync off: the machine never crashes under this server, only the server does, and
        # what it wrote is then in the page cache. Commits stay synchronous (the default): an
        # asynchronous commit acknowledged just before a SIGKILL would be lost, as in production.
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
                   "-c fsync=off -c full_page_writes=off -c max_connections=60")
        self._run("pg_ctl", "start", "-w", "-t", "30", "-D", str(self.data), "-l", str(self.log), "-o", options)

    def restart_fast(self) -> None:
        """`pg_ctl restart -m fast`: every session is ended, the server comes back at once."""
        # -l again: without it the new postmaster would write to (and hold open) our pipes.
        self._run("pg_ctl", "restart", "-m", "fast", "-w", "-t", "30", "-D", str(self.data), "-l", str(self.log))

    def postmaster(self) -> psutil.Process | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            proc = psutil.Process(pid)
            return proc if proc.status() != psutil.STATUS_ZOMBIE else None
        except (OSError, ValueError, IndexError, psutil.Error):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster, then whatever of its children outlives it (they normally exit
        when they notice its death; a start fails while one still holds the shared memory)."""
        main = self.postmaster()
        if main is None:
            return
        children = main.children(recursive=True)
        try:
            main.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
        _gone, alive = psutil.wait_procs(children, timeout=10)
        for proc in alive:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)

    def kill_and_start(self, down: float) -> None:
        """The abrupt way: SIGKILL the postmaster, stay down DOWN seconds, start again (crash
        recovery replays the WAL)."""
        began = time.monotonic()
        self.kill()
        time.sleep(max(0.0, down - (time.monotonic() - began)))
        self.start()

    def stop(self) -> None:
        if self.postmaster() is None:
            return
        try:
            self._run("pg_ctl", "stop", "-m", "fast", "-w", "-t", "20", "-D", str(self.data), timeout=30)
        except (RuntimeError, subprocess.TimeoutExpired):
            self.kill()

    def remove(self) -> None:
        self.stop()
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private server, stopped and removed afterwards whatever happens."""
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


@contextmanager
def django_on(server: PrivatePostgres, name: str, settings) -> Iterator[None]:
    """Point Django's default database at database NAME of SERVER for every thread of this
    process, as DATABASE_URL does in a process that starts with it: settings.DATABASES (which
    also names the instance whose task processes are ours), the connection handler's settings
    (threads open their connections from those) and this thread's open connection. The test
    database is put back afterwards."""
    from django.db import connections
    from django.db.utils import load_backend

    database = {
        "ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": "postgres", "PASSWORD": "",
        "HOST": "127.0.0.1", "PORT": str(server.port), "CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": False,
        "ATOMIC_REQUESTS": False, "AUTOCOMMIT": True, "OPTIONS": {}, "TIME_ZONE": None,
        "TEST": {"NAME": None, "CHARSET": None, "COLLATION": None, "MIGRATE": True, "MIRROR": None},
    }
    original = connections["default"]
    handler_settings = connections.settings
    wrapper = load_backend(database["ENGINE"]).DatabaseWrapper(database, "default")
    saved = settings.DATABASES
    settings.DATABASES = {**saved, "default": database}
    connections.__dict__["settings"] = {**handler_settings, "default": database}
    connections["default"] = wrapper
    try:
        yield
    finally:
        try:
            wrapper.close()
        except Exception:  # noqa: BLE001 - the server may be gone already
            pass
        connections["default"] = original
        connections.__dict__["settings"] = handler_settings
        settings.DATABASES = saved
