"""The panel under load while workers run: gunicorn (the deploy settings' 4 workers x 4
threads) and one qcluster on a fresh SQLite instance, 200 site verifies queued, and 50 clients
(threads with urllib, each logged in) reading the dashboard, the task list and a live task log
on 127.0.0.1. Prints one JSON line: requests, errors, p50/p95/p99 ms, "database is locked"
lines in the server logs. Bounded: --requests per client and --seconds overall.

    .venv/bin/python bench/load.py [--clients 50] [--requests 40] [--tasks 200] [--seconds 120]

Exits 1 when a request failed, p99 >= 200 ms, or the logs say "database is locked"."""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
PASSWORD = "load-pass-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run([PY, str(REPO / "manage.py"), *args], env=env, cwd=REPO, check=True,
                          capture_output=True, text=True, timeout=300).stdout


def login(base: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login/", timeout=60).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token}).encode()
    request = urllib.request.Request(f"{base}/login/", data=data, headers={"Referer": f"{base}/login/"})
    opener.open(request, timeout=60).read()
    if not any(c.name == "sessionid" for c in jar):
        raise RuntimeError("login failed")
    return opener


def client(base: str, urls: list[str], count: int, give_up: float, times: list[float], errors: list[str],
           ready: threading.Barrier, per_url: dict[str, list[float]]) -> None:
    # Logins first, then the measured reads all at once: 50 PBKDF2 checks (by design slow, a
    # few hundred ms of CPU each) would otherwise be what the percentiles measure.
    try:
        opener = login(base)
    except Exception as exc:  # noqa: BLE001 - counted, not raised: one thread must not stop the run
        errors.append(f"login: {exc}")
        ready.abort()
        return
    try:
        ready.wait(timeout=120)
    except threading.BrokenBarrierError:
        return
    for index in range(count):
        if time.monotonic() > give_up:
            return
        url = urls[index % len(urls)]
        started = time.perf_counter()
        try:
            with opener.open(base + url, timeout=10) as answer:
                answer.read()
                if answer.status != 200:
                    errors.append(f"{url}: {answer.status}")
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{url}: {exc}")
            continue
        times.append(time.perf_counter() - started)
        per_url.setdefault(url, []).append(times[-1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40, help="requests per client")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=120)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hm-load-"))
    port = free_port()
    env = {**os.environ, "HARBORMASTER_DATA_DIR": str(work / "data"), "HARBORMASTER_ROOTS": str(work),
           "HARBORMASTER_SECRET_KEY": "load-" + "k" * 40, "DJANGO_SETTINGS_MODULE": "hosting.settings",
           "HARBORMASTER_HEARTBEAT": "1", "HARBORMASTER_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    procs: list[subprocess.Popen[bytes]] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    (work / "data").mkdir()
    try:
        manage(env, "migrate", "--verbosity", "0")
        manage(env, "shell", "-c", "from django.contrib.auth.models import User; "
               f"User.objects.create_superuser('admin', 'a@example.test', '{PASSWORD}')")
        root = work / "data" / "platforms" / "d10"
        manage(env, "demo_platform", str(root), "--sites", "5")
        manage(env, "platform", "add", "d10", str(root))
        logs = {name: open(work / f"{name}.log", "wb") for name in ("gunicorn", "qcluster")}
        procs.append(subprocess.Popen([PY, "-m", "gunicorn", "hosting.wsgi", "-b", f"127.0.0.1:{port}", "-w", "4",
                                       "--threads", "4", "--timeout", "60"], env=env, cwd=REPO,
                                      stdout=logs["gunicorn"], stderr=subprocess.STDOUT, start_new_session=True))
        procs.append(subprocess.Popen([PY, str(REPO / "manage.py"), "qcluster"], env=env, cwd=REPO,
                                      stdout=logs["qcluster"], stderr=subprocess.STDOUT, start_new_session=True))
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/login/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        # Wait for the platform verify to import the sites, then queue the verifies.
        out = ""
        for _ in range(120):
            out = manage(env, "shell", "-c", "from hosting.models import Site; print(Site.objects.count())")
            if out.strip() == "5":
                break
            time.sleep(0.5)
        per_site = max(1, opts.tasks // 5)
        script = ("from hosting.actions import queue_task; from hosting.models import Site, Task\n"
                  f"ids=[queue_task(s, 'verify').pk for s in Site.objects.all() for _ in range({per_site})]\n"
                  "print(ids[0])")
        first = int(manage(env, "shell", "-c", script).strip().splitlines()[-1])
        urls = ["/", "/tasks/", f"/tasks/{first}/log/?after=0", f"/tasks/{first}/"]
        times: list[float] = []
        errors: list[str] = []
        per_url: dict[str, list[float]] = {}
        give_up = time.monotonic() + opts.seconds
        began = 0.0

        def start_clock() -> None:
            nonlocal began
            began = time.monotonic()

        ready = threading.Barrier(opts.clients, action=start_clock)
        threads = [threading.Thread(target=client, args=(base, urls, opts.requests, give_up, times, errors, ready, per_url))
                   for _ in range(opts.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=opts.seconds + 30)
        elapsed = time.monotonic() - began if began else 0.0
        state = manage(env, "shell", "-c", "from collections import Counter; from hosting.models import Task; "
                       "print(dict(Counter(Task.objects.values_list('state', flat=True))))").strip()
        for handle in logs.values():
            handle.flush()
        locked = sum((work / f"{n}.log").read_text(errors="replace").count("database is locked") for n in logs)
        figures = {"clients": opts.clients, "requests": len(times), "errors": len(errors),
                   "error_examples": errors[:3], "seconds": round(elapsed, 1),
                   "requests_per_s": round(len(times) / elapsed, 1) if elapsed else 0,
                   "p50_ms": round(percentile(times, 50) * 1000, 1), "p95_ms": round(percentile(times, 95) * 1000, 1),
                   "p99_ms": round(percentile(times, 99) * 1000, 1), "max_ms": round(max(times, default=0) * 1000, 1),
                   "database_is_locked": locked, "tasks_at_end": state.splitlines()[-1],
                   "p50_ms_by_url": {u: round(percentile(v, 50) * 1000, 1) for u, v in per_url.items()},
                   "cpus": os.cpu_count()}
        print(json.dumps(figures, sort_keys=True))
        return 1 if errors or locked or figures["p99_ms"] >= 200 else 0
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
