"""`manage.py serve`: the panel (gunicorn on 127.0.0.1) and this host's workers (qcluster) in the
foreground together; Ctrl-C or SIGTERM stops both, with their process trees. The workers are
started again when they end with WEDGED_EXIT (hosting.engine.watchdog), as systemd would."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from hosting.engine.watchdog import WEDGED_EXIT
from provision.runner import kill_tree


class Command(BaseCommand):
    help = "Run the panel and the workers in the foreground."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default=os.environ.get("HARBORMASTER_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, bind: str, web_workers: int, **options) -> None:
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        env = dict(os.environ, Q_CLUSTER_NAME=settings.HARBORMASTER_QUEUE)

        def workers() -> subprocess.Popen:
            return subprocess.Popen([*manage, "qcluster"], cwd=settings.BASE_DIR, env=env)

        procs = {
            "web": subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "hosting.wsgi:application", "--bind", bind,
                 "--workers", str(web_workers), "--threads", "4", "--access-logfile", "-"],
                cwd=settings.BASE_DIR, env=env),
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
                if proc.poll() is None:
                    continue
                if name == "workers" and proc.returncode == WEDGED_EXIT:
                    # Backoff: 1 s, doubling with each restart in the last 5 minutes, at most 60 s.
                    now = time.monotonic()
                    restarts[:] = [t for t in restarts if now - t < 300]
                    delay = min(60.0, 2.0 ** len(restarts))
                    self.stderr.write(f"The workers process exited with code {proc.returncode} "
                                      f"(wedged worker queue); restarting it in {delay:.0f} s.")
                    give_up = now + delay
                    while not stopping and time.monotonic() < give_up:
                        time.sleep(0.2)
                    if stopping:
                        break
                    restarts.append(time.monotonic())
                    procs["workers"] = workers()
                    continue
                self.stderr.write(f"The {name} process exited with code {proc.returncode}; stopping.")
                stopping, code = True, 1
            time.sleep(0.5)
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_tree(proc.pid)
        sys.exit(code)
