"""`manage.py serve`: the panel (gunicorn on 127.0.0.1) and this host's workers (qcluster) in the
foreground together; Ctrl-C or SIGTERM stops both, with their process trees.

Each child runs in a process group of its own, so a terminal's Ctrl-C reaches serve alone, which
stops them the way systemd's KillMode=mixed does: SIGTERM to each child's main process, and
after --grace seconds SIGKILL to whatever is left of its tree. serve never waits longer than
that on a child. The workers are started again when they end with WEDGED_EXIT
(hosting.engine.watchdog), as systemd would, after the rest of their process group is killed.
Exit status: 0 when both children stopped within the grace period, 1 when one had to be
killed or ended by itself."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from hosting.engine.shutdown import KILL_AFTER, stop_grace
from hosting.engine.watchdog import WEDGED_EXIT
from provision.runner import kill_tree


def _exited(proc: subprocess.Popen) -> bool:
    """Whether PROC has exited, without reaping it: until it is reaped its pid, and so its
    process group's id, cannot be taken by another process."""
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _reap(proc: subprocess.Popen) -> int:
    """Kill what is left of PROC's tree and process group (nothing, after a clean exit), then
    reap it."""
    kill_tree(proc.pid, grace=1.0)
    return proc.wait()


def end_all(procs: dict[str, subprocess.Popen], grace: float, say) -> bool:
    """SIGTERM every child's main process; SIGKILL the tree of any not gone GRACE seconds later.
    Returns whether every child stopped by itself."""
    for proc in procs.values():
        if not _exited(proc):
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    clean = True
    for name, proc in procs.items():
        while not _exited(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _exited(proc):
            say(f"The {name} process did not stop within {grace:g} s; killing its processes.")
            clean = False
        _reap(proc)
    return clean


class Command(BaseCommand):
    help = "Run the panel and the workers in the foreground."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default=os.environ.get("HARBORMASTER_BIND", "127.0.0.1:8000"),
                            help="The panel's address (default HARBORMASTER_BIND, else 127.0.0.1:8000).")
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes (default 2).")
        # The workers end themselves within HARBORMASTER_STOP_GRACE + KILL_AFTER (hosting.engine.shutdown).
        parser.add_argument("--grace", type=float, default=stop_grace() + KILL_AFTER + 5,
                            help="seconds a child gets to stop before its process tree is killed")

    def handle(self, *args, bind: str, web_workers: int, grace: float, **options) -> None:
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        env = dict(os.environ, Q_CLUSTER_NAME=settings.HARBORMASTER_QUEUE)

        def spawn(argv: list[str]) -> subprocess.Popen:
            return subprocess.Popen(argv, cwd=settings.BASE_DIR, env=env, process_group=0)

        def workers() -> subprocess.Popen:
            return spawn([*manage, "qcluster"])

        procs = {
            "web": spawn([sys.executable, "-m", "gunicorn", "hosting.wsgi:application", "--bind", bind,
                          "--workers", str(web_workers), "--threads", "4", "--access-logfile", "-",
                          "--graceful-timeout", str(max(1, int(grace) - 2))]),
            "workers": workers(),
        }
        restarts: list[float] = []  # when the workers were restarted, for the backoff
        self.stdout.write(f"Harbormaster panel on http://{bind}/ ; workers serve queue "
                          f"{settings.HARBORMASTER_QUEUE!r}. Ctrl-C stops both.")
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        code = 0
        while not stopping:
            for name, proc in list(procs.items()):
                if not _exited(proc):
                    continue
                returncode = _reap(procs.pop(name))  # reaped: its pid is nobody's to signal now
                if name == "workers" and returncode == WEDGED_EXIT:
                    # Backoff: 1 s, doubling with each restart in the last 5 minutes, at most 60 s.
                    now = time.monotonic()
                    restarts[:] = [t for t in restarts if now - t < 300]
                    delay = min(60.0, 2.0 ** len(restarts))
                    self.stderr.write(f"The workers process exited with code {returncode} "
                                      f"(wedged worker queue); restarting it in {delay:.0f} s.")
                    give_up = now + delay
                    while not stopping and time.monotonic() < give_up:
                        time.sleep(0.2)
                    if stopping:
                        break
                    restarts.append(time.monotonic())
                    procs["workers"] = workers()
                    continue
                self.stderr.write(f"The {name} process exited with code {returncode}; stopping.")
                stopping, code = True, 1
            time.sleep(0.2)
        if not end_all(procs, grace, self.stderr.write):
            code = 1
        sys.exit(code)
