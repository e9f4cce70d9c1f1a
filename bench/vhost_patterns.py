"""The cost of the vhost patterns on a real nginx (issue 23): the refusing patterns as they were
before issue 23 against today's, each in the site vhost Harbormaster writes, served by a private
nginx (one worker) and php-fpm on 127.0.0.1 (tests/web_probe.py: a Drupal-shaped site).

    .venv/bin/python bench/vhost_patterns.py [--lengths 600,1200,2400,8177] [--rounds 5]
        [--cap 3] [--apache]

Per round, for a normal request (a clean URL answered by index.php) and for each crafted family
at each length, one request to the old vhost and one to the new, alternating. Medians per
request; a family whose old cost passed CAP seconds at one length is not sent longer (the old
patterns grow with the square or the cube of the length: 8 KB takes minutes). --apache measures
Apache's old and new vhosts the same way (it refuses a URI longer than PATH_MAX, about 4 KB,
before any pattern runs)."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.web_probe import FAMILIES, URI_LIMIT, fill, old_apache_site, old_nginx_site, served  # noqa: E402


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def ratio(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def measure(kind: str, lengths: list[int], rounds: int, cap: float) -> None:
    old_template = old_nginx_site() if kind == "nginx" else old_apache_site()
    with served((kind,), {kind: old_template}) as old, served((kind,)) as new:
        pair = {"old": old[kind], "new": new[kind]}
        uris = [("normal request (/node/1)", 0, "/node/1")]
        for name, (head, unit, tail) in FAMILIES.items():
            uris += [(name, n, fill(head, unit, tail, n)) for n in lengths if n <= URI_LIMIT[kind]]
        print(f"\n{kind}: load average {os.getloadavg()[0]:.1f}, {rounds} rounds\n")
        print("| URI | length | old (median) | new (median) | old / new |")
        print("|---|---|---|---|---|")
        too_slow: set[str] = set()
        for name, length, uri in uris:
            if name in too_slow:
                print(f"| {name} | {length} | > {cap:.0f} s (not sent) | | |")
                continue
            costs: dict[str, list[float]] = {"old": [], "new": []}
            statuses = set()
            for _ in range(rounds):
                for which in ("old", "new"):
                    seconds, status, _ = pair[which].get(uri, timeout=600)
                    costs[which].append(seconds)
                    statuses.add(status)
                if min(costs["old"]) > cap:
                    break  # one more round would only cost minutes
            old_ms, new_ms = statistics.median(costs["old"]), statistics.median(costs["new"])
            print(f"| {name} | {length or len(uri)} | {ms(old_ms)} | {ms(new_ms)} | {ratio(old_ms / new_ms)} |",
                  flush=True)
            if old_ms > cap:
                too_slow.add(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="600,1200,2400,8177")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cap", type=float, default=3.0, help="seconds: longer URIs of a family are not sent")
    parser.add_argument("--apache", action="store_true", help="Apache as well")
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]
    for kind in ("nginx", "apache") if args.apache else ("nginx",):
        measure(kind, lengths if kind == "nginx" else [n for n in lengths if n < 4000] + [3600], args.rounds, args.cap)


if __name__ == "__main__":
    main()
