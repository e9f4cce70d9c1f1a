"""Certificate issuance against a real Pebble on 127.0.0.1 (Debian's `pebble`): the time of one
issuance by HTTP-01 through provision.certificates, one at a time, then a batch issued by N
threads at once (a renewal run with N workers): wall time, certificates per second and the ACME
server's request rate (every HTTP request the acme library sends is counted).

The challenge tokens are served by a plain Python HTTP server on Pebble's validation port, not
nginx: this measures the ACME side (Pebble with PEBBLE_VA_NOSLEEP, key generation, the protocol
round trips), not the web server.

    .venv/bin/python bench/acme_issuance.py [--single 20] [--count 200] [--workers 2]
"""
from __future__ import annotations

import argparse
import functools
import http.server
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provision import certificates  # noqa: E402
from tests.pebble import start_pebble  # noqa: E402


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _count_requests() -> list[int]:
    """Count every request of the acme library's ClientNetwork (thread-safe enough: a lock)."""
    from acme import client

    count = [0]
    lock = threading.Lock()
    original = client.ClientNetwork._send_request

    def counted(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        with lock:
            count[0] += 1
        return original(self, *args, **kwargs)

    client.ClientNetwork._send_request = counted  # type: ignore[method-assign]
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=20, help="certificates issued one at a time")
    parser.add_argument("--count", type=int, default=200, help="certificates of the concurrent batch")
    parser.add_argument("--workers", type=int, default=2, help="threads issuing the batch")
    args = parser.parse_args()
    requests = _count_requests()
    with tempfile.TemporaryDirectory(prefix="hm-acme-bench-") as work:
        base = Path(work)
        pebble = start_pebble(base / "pebble")
        root = base / "www"
        challenge = root / ".well-known" / "acme-challenge"
        challenge.mkdir(parents=True)
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", pebble.http_port),
                                                functools.partial(_Quiet, directory=str(root)))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        server = certificates.AcmeServer(pebble.directory, ca_bundle=str(pebble.cert), timeout=120)
        tls = base / "tls"
        try:
            certificates.issue(tls, challenge, server, ["warmup.example.test"], lambda _l: None)  # the account
            times = []
            before = requests[0]
            for i in range(args.single):
                started = time.perf_counter()
                certificates.issue(tls, challenge, server, [f"one{i}.example.test", f"www.one{i}.example.test"],
                                   lambda _l: None)
                times.append(time.perf_counter() - started)
            per_cert = (requests[0] - before) / max(1, args.single)
            times.sort()
            print(f"one at a time, {args.single} certificates (2 names each): median {statistics.median(times):.3f} s, "
                  f"p95 {times[int(0.95 * (len(times) - 1))]:.3f} s, max {times[-1]:.3f} s, "
                  f"{per_cert:.1f} ACME requests per certificate")

            before = requests[0]
            failures: list[str] = []

            def one(i: int) -> None:
                try:
                    certificates.issue(tls, challenge, server, [f"batch{i}.example.test"], lambda _l: None)
                except Exception as exc:  # noqa: BLE001 - counted and shown
                    failures.append(str(exc)[:200])

            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                list(pool.map(one, range(args.count)))
            wall = time.perf_counter() - started
            sent = requests[0] - before
            print(f"batch of {args.count} with {args.workers} workers: {wall:.1f} s wall, "
                  f"{args.count / wall:.1f} certificates/s, {sent} ACME requests ({sent / wall:.1f} requests/s), "
                  f"{len(failures)} failed{': ' + failures[0] if failures else ''}")
        finally:
            httpd.shutdown()
            httpd.server_close()
            pebble.stop()


if __name__ == "__main__":
    main()
