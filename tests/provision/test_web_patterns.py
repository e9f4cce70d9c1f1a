"""The refusing patterns of the nginx and Apache vhosts (issue 23), against a real nginx and a
real Apache serving a Drupal-shaped site through a private php-fpm (tests/web_probe.py): what
they refuse and serve, and that no URI up to the request-line limit costs more than a normal
request plus a few milliseconds. The old patterns took 22 s of a worker for one 7.8 KB URI."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web_probe import (
    HOST,
    NEWLINE_TABLE,
    TABLE,
    URI_LIMIT,
    Site,
    cost,
    crafted_costs,
    fill,
    old_nginx_site,
    served,
)

KINDS = ("nginx", "apache")
# A normal request costs a fraction of a millisecond; a backtracking pattern costs 80 ms at
# 1.2 KB and seconds beyond. The margin leaves room for a machine busy with other tests.
MARGIN = 0.050
SECRETS = (b"secret", b"private", b"dump", b"<?php", b"cvs", b"old")


@pytest.fixture(scope="module")
def sites() -> Iterator[dict[str, Site]]:
    with served(KINDS) as running:
        yield running


@pytest.fixture(scope="module")
def baselines(sites) -> dict[str, float]:
    return {kind: site.baseline() for kind, site in sites.items()}


def check(site: Site, uri: str, expected: int | str) -> None:
    _, status, body = site.get(uri)
    if isinstance(expected, int):
        assert status == expected, (site.kind, uri, status, body[:200])
        assert not any(secret in body for secret in SECRETS), (site.kind, uri, body[:200])
    else:
        assert status == 200 and expected.encode() in body, (site.kind, uri, status, body[:200])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("uri", "nginx", "apache"), TABLE)
def test_it_refuses_and_serves_what_the_old_patterns_did(sites, kind: str, uri: str, nginx, apache) -> None:
    check(sites[kind], uri, nginx if kind == "nginx" else apache)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("uri", "nginx", "apache"), NEWLINE_TABLE)
def test_a_newline_in_the_uri_hides_nothing(sites, kind: str, uri: str, nginx, apache) -> None:
    check(sites[kind], uri, nginx if kind == "nginx" else apache)


@pytest.mark.parametrize("kind", KINDS)
def test_the_crafted_uris_reach_the_servers_limit(sites, kind: str) -> None:
    site, limit = sites[kind], URI_LIMIT[kind]
    assert site.get(fill("/node/", "a/", "", limit))[1] != 414
    assert site.get(fill("/node/", "a/", "", limit + 1) + "a")[1] == 414


@pytest.mark.parametrize("kind", KINDS)
def test_no_crafted_uri_costs_more_than_a_normal_request(sites, baselines, kind: str) -> None:
    site, baseline = sites[kind], baselines[kind]
    costs = crafted_costs(site, baseline + MARGIN)
    assert all(c.status in (200, 403, 404) for c in costs), [c for c in costs if c.status not in (200, 403, 404)]
    slow = [c for c in costs if c.seconds > baseline + MARGIN]
    assert not slow, f"baseline {baseline * 1000:.2f} ms; over it by more than {MARGIN * 1000:.0f} ms: {slow}"


# What the patterns are made of: a URI built by repeating any mix of these up to the limit.
PIECES = ["a", ".", "/", "php", ".php", "sql", "s", "~", ".bak", "vendor/", "files/", "sites/x/",
          "Entries", "%0A", "a.b/", "a.php/", "update.php/", "index.php/", "-", ".well-known/"]


@settings(max_examples=30, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(head=st.sampled_from(["/", "/a", "/index.php/", "/update.php/", f"/sites/{HOST}/files/", "/vendor/"]),
       unit=st.lists(st.sampled_from(PIECES), min_size=1, max_size=6).map("".join),
       tail=st.sampled_from(["", "x", ".php", "sql", "%0Ax", "/", ".php/x"]),
       kind=st.sampled_from(KINDS))
def test_no_uri_made_of_the_patterns_pieces_costs_more(sites, baselines, head: str, unit: str, tail: str,
                                                      kind: str) -> None:
    site, bound = sites[kind], baselines[kind] + MARGIN
    # Apache maps at most PATH_MAX (4 KB) of a URI to a file and refuses the rest before any
    # pattern runs: its longest URI that reaches the patterns is tried too.
    for length in {URI_LIMIT[kind], 3600}:
        seconds, status = cost(site, fill(head, unit, tail, length), bound)
        assert status in (200, 400, 403, 404), (kind, head, unit, tail, status)
        assert seconds <= bound, (kind, head, unit, tail, length, seconds)


def test_the_check_catches_the_old_patterns() -> None:
    # The same measurement against the vhost as it was before issue 23 finds what the issue
    # found: a check that could not fail would prove nothing. In whole-suite runs a family was
    # now and then answered in microseconds (never reaching the patterns); until that is
    # understood, a fresh server is tried up to three times, and every answer is recorded.
    wanted = {"a.php/", "files/ a.php/", "dots"}
    attempts = []
    for _ in range(3):
        with served(("nginx",), {"nginx": old_nginx_site()}) as old:
            site = old["nginx"]
            baseline = site.baseline()
            costs = crafted_costs(site, baseline + MARGIN)
        slow = {c.family for c in costs if c.seconds > baseline + MARGIN}
        attempts.append((baseline, costs))
        if wanted <= slow:
            return
    raise AssertionError(f"the old patterns were not slow in three tries: {attempts}")
