"""The panel under load while workers run: gunicorn (the deploy settings' 4 workers x 4 threads)
and one qcluster on a fresh SQLite instance with --tasks site verifies queued, and --clients
clients on 127.0.0.1, in one of two modes:

--mode panel (the default): each client is a person with the panel open in three tabs, doing
what the pages make a browser do: the dashboard (loaded once, then its queue-health poll every
5 s), the task list (reloaded every 10 s; it has no poll of its own) and a running task's page
(loaded, then its live-log poll every 1 s with ?after=<last line seen>; when the task ends, the
page of the next one is opened). Persistent connections (http.client), a session of its own
per client (logged in before the clock starts: 50 PBKDF2 checks are not what is measured).

--mode closed: wrk (C, 2 threads) keeps --clients connections busy with no pause between a
response and the next request, cycling through the same four URLs: the panel's capacity, not a
crowd of people (latency then is clients / throughput, whatever the pages cost).

Prints one JSON line: requests, errors, p50/p95/p99 ms overall and per kind of request,
requests/s, "database is locked" lines in the server logs, the tasks' states at the end.

    .venv/bin/python bench/load.py [--mode panel|closed] [--clients 50] [--seconds 60] [--tasks 200]

Exits 1 when a request failed, the logs say "database is locked", or (panel mode) p99 >= 200 ms."""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
PASSWORD = "load-pass-1"
# Logins a few at a time: each is a deliberately slow PBKDF2 check, and 50 at once would queue
# past any timeout before the measured part starts.
LOGINS = threading.Semaphore(4)
POLL = re.compile(r'hx-get="(/tasks/\d+/log/\?after=-?\d+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run([PY, str(REPO / "manage.py"), *args], env=env, cwd=REPO, check=True,
                          capture_output=True, text=True, timeout=300).stdout


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0


class Browser:
    """One person's browser: a keep-alive connection, its cookies, timed GETs."""

    def __init__(self, port: int, record: dict[str, list[float]], errors: list[str]) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.record = record
        self.errors = errors
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: str | None = None, htmx: bool = False,
                kind: str | None = None) -> str:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if htmx:
            headers["HX-Request"] = "true"
        if body is not None:
            headers.update({"Content-Type": "application/x-www-form-urlencoded",
                            "Referer": f"http://127.0.0.1:{self.port}{path}"})
        started = time.perf_counter()
        for attempt in (1, 2):  # the server may have closed an idle keep-alive connection
            try:
                self.conn.request(method, path, body=body, headers=headers)
                answer = self.conn.getresponse()
                text = answer.read().decode("utf-8", "replace")
                break
            except (http.client.HTTPException, ConnectionError) as exc:
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    self.errors.append(f"{path}: {exc!r}")
                    return ""
                started = time.perf_counter()
        took = time.perf_counter() - started
        for header, value in answer.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        if kind is not None:
            if answer.status != 200:
                self.errors.append(f"{path}: HTTP {answer.status}")
            else:
                self.record.setdefault(kind, []).append(took)
        return text

    def log_in(self) -> None:
        page = self.request("GET", "/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        self.request("POST", "/login/", urllib.parse.urlencode(
            {"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token}))
        if "sessionid" not in self.cookies:
            raise RuntimeError("login failed")


def person(port: int, tasks: list[int], start: threading.Barrier, until: list[float],
           record: dict[str, list[float]], errors: list[str], seed: int) -> None:
    """Three tabs (dashboard, task list, a task's page) kept open until UNTIL[0]; each event
    happens when the page would make it happen, in a random phase per person."""
    rng = random.Random(seed)
    browser = Browser(port, record, errors)
    try:
        with LOGINS:
            browser.log_in()
        start.wait(timeout=300)
    except Exception as exc:  # noqa: BLE001 - counted: one person must not stop the run
        errors.append(f"login: {exc!r}")
        start.abort()
        return
    # The tabs are opened over the first seconds, not by everyone at the same instant.
    now = time.monotonic()
    due = {"dashboard": now + rng.uniform(0, 5), "list": now + rng.uniform(0, 10), "task": now + rng.uniform(0, 5)}
    poll: str | None = None
    while True:
        event, when = min(due.items(), key=lambda item: item[1])
        if when >= until[0]:
            return
        time.sleep(max(0.0, when - time.monotonic()))
        if event == "dashboard":
            browser.request("GET", "/", kind="dashboard page")
            due["health"] = when + 5
            del due["dashboard"]
        elif event == "health":
            browser.request("GET", "/?part=health", htmx=True, kind="dashboard poll")
            due["health"] = when + 5
        elif event == "list":
            browser.request("GET", "/tasks/", kind="task list page")
            due["list"] = when + 10
        elif poll is None:
            task = tasks[rng.randrange(len(tasks))]
            found = POLL.search(browser.request("GET", f"/tasks/{task}/", kind="task page"))
            poll = found.group(1) if found else None
            due["task"] = when + (1 if poll else 3)  # a finished task: the person reads, then moves on
        else:
            found = POLL.search(browser.request("GET", poll, htmx=True, kind="live log poll"))
            poll = found.group(1) if found else None
            due["task"] = when + 1


def run_panel(port: int, tasks: list[int], clients: int, seconds: float) -> dict[str, Any]:
    record: dict[str, list[float]] = {}
    errors: list[str] = []
    until = [float("inf")]
    began = [0.0]

    def go() -> None:
        began[0] = time.monotonic()
        until[0] = began[0] + seconds

    start = threading.Barrier(clients, action=go)
    people = [threading.Thread(target=person, args=(port, tasks, start, until, record, errors, n), daemon=True)
              for n in range(clients)]
    for thread in people:
        thread.start()
    for thread in people:
        thread.join(timeout=seconds + 330)
    times = [t for values in record.values() for t in values]
    elapsed = time.monotonic() - began[0] if began[0] else 0.0
    return {"mode": "panel", "requests": len(times), "errors": len(errors), "error_examples": errors[:3],
            "seconds": round(elapsed, 1), "requests_per_s": round(len(times) / elapsed, 1) if elapsed else 0,
            **{f"p{p}_ms": round(percentile(times, p) * 1000, 1) for p in (50, 95, 99)},
            "max_ms": round(max(times, default=0) * 1000, 1),
            "by_kind": {kind: {"n": len(v), "p50_ms": round(percentile(v, 50) * 1000, 1),
                               "p99_ms": round(percentile(v, 99) * 1000, 1)} for kind, v in sorted(record.items())}}


WRK_SCRIPT = """
-- Each connection walks the URL list, all connections sharing one logged-in session.
local paths = {}
local counter = 0
function init(args)
  for _, p in ipairs(args) do paths[#paths + 1] = p end
end
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
"""


def run_closed(port: int, first: int, clients: int, seconds: float, work: Path) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("--mode closed needs wrk (apt-get install wrk)")
    browser = Browser(port, {}, [])
    browser.log_in()
    script = work / "urls.lua"
    script.write_text(WRK_SCRIPT)
    urls = ["/", "/tasks/", f"/tasks/{first}/", f"/tasks/{first}/log/?after=-1"]
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    out = subprocess.run(["wrk", "-t", "2", "-c", str(clients), "-d", f"{int(seconds)}s", "--latency", "--timeout",
                          "10s", "-H", f"Cookie: {cookie}", "-s", str(script), f"http://127.0.0.1:{port}", "--", *urls],
                         capture_output=True, text=True, timeout=seconds + 60, check=True).stdout

    def ms(text: str) -> float:
        number = re.match(r"[\d.]+", text).group(0)
        return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[text[len(number):]]

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"mode": "closed", "urls": urls, "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "errors": (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0),
            "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "seconds": seconds,
            **{f"p{p}_ms": round(ms(v), 1) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", out, re.M)},
            "max_ms": round(ms(re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out).group(1)), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["panel", "closed"], default="panel")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
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
        # drush status takes a second, as a real Drupal's bootstrap does: tasks run (and their
        # pages poll) through the whole measured window.
        (root / ".standin").mkdir(exist_ok=True)
        (root / ".standin" / "sleep-status").write_text("1")
        manage(env, "platform", "add", "d10", str(root))
        logs = {name: open(work / f"{name}.log", "wb") for name in ("gunicorn", "qcluster")}
        procs.append(subprocess.Popen([PY, "-m", "gunicorn", "hosting.wsgi", "-b", f"127.0.0.1:{port}", "-w", "4",
                                       "--threads", "4", "--timeout", "60"], env=env, cwd=REPO,
                                      stdout=logs["gunicorn"], stderr=subprocess.STDOUT, start_new_session=True))
        procs.append(subprocess.Popen([PY, str(REPO / "manage.py"), "qcluster"], env=env, cwd=REPO,
                                      stdout=logs["qcluster"], stderr=subprocess.STDOUT, start_new_session=True))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.2)
        # Wait for the platform verify to import the sites, then queue the verifies.
        for _ in range(120):
            count = manage(env, "shell", "-c", "from hosting.models import Site; print(Site.objects.count())")
            if count.strip() == "5":
                break
            time.sleep(0.5)
        per_site = max(1, opts.tasks // 5)
        script = ("from hosting.actions import queue_task; from hosting.models import Site\n"
                  f"print(*[queue_task(s, 'verify').pk for _ in range({per_site}) for s in Site.objects.all()])")
        tasks = [int(n) for n in manage(env, "shell", "-c", script).strip().splitlines()[-1].split()]
        if opts.mode == "closed":
            figures = run_closed(port, tasks[0], opts.clients, min(opts.seconds, 60), work)
        else:
            figures = run_panel(port, tasks, opts.clients, opts.seconds)
        state = manage(env, "shell", "-c", "from collections import Counter; from hosting.models import Task; "
                       "print(dict(Counter(Task.objects.values_list('state', flat=True))))").strip()
        for handle in logs.values():
            handle.flush()
        locked = sum((work / f"{n}.log").read_text(errors="replace").count("database is locked") for n in logs)
        figures.update({"clients": opts.clients, "database_is_locked": locked,
                        "tasks_at_end": state.splitlines()[-1], "cpus": os.cpu_count()})
        print(json.dumps(figures, sort_keys=True))
        return 1 if figures["errors"] or locked or (opts.mode == "panel" and figures["p99_ms"] >= 200) else 0
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
