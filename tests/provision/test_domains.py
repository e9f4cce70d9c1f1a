from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provision.domains import normalise_domain
from provision.errors import InvalidDomain


@pytest.mark.parametrize(("raw", "expected"), [
    ("Example.COM", "example.com"),
    ("www.example.com.", "www.example.com"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("  a-b.example.test ", "a-b.example.test"),
])
def test_it_normalises(raw, expected):
    assert normalise_domain(raw) == expected


@pytest.mark.parametrize("raw", [
    "", "localhost", "../../etc", "a/b.example", "a\\b.example", "a b.example", "a\x00b.example",
    "-bad.example", "bad-.example", "a..b.example", "x" * 64 + ".example", ("a" * 60 + ".") * 5 + "com",
    "1.2.3.4", "exa_mple.com", "example.com;rm -rf /", "$(id).example",
])
def test_it_refuses(raw):
    with pytest.raises(InvalidDomain):
        normalise_domain(raw)


@given(st.text(max_size=300))
def test_it_never_returns_a_path_part(raw):
    try:
        name = normalise_domain(raw)
    except InvalidDomain:
        return
    assert "/" not in name and "\\" not in name and ".." not in name and "\x00" not in name
    assert len(name) <= 253 and name == name.lower()
    assert normalise_domain(name) == name
