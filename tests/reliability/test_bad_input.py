"""Bad input: property-based tests of domain, path, name and settings.php parsing, and every
text field that reaches a subprocess or a path (site domain, aliases, profile; platform name
and path; clone domain) sent through the API with shell metacharacters, `..`, NUL bytes, very
long and non-ASCII values: no 500, nothing written outside the roots, nothing run."""
from __future__ import annotations

import re
import secrets
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from provision.domains import InvalidDomain, normalise_domain
from provision.errors import ProvisionError
from provision.paths import Roots, UnsafePath, safe_name, site_dir
from provision.settings_php import DatabaseSettings, parse_database_settings, render_settings_php

# Text that looks like what attackers and typos send: shell and path characters, NUL, dots,
# IDNA, right-to-left marks, long runs; mixed with anything Unicode.
NASTY = st.lists(st.sampled_from(list(string.ascii_letters + string.digits + ".-_/\\;|&$`'\"()<>*?~ \t\n\x00")
                                 + ["..", "é", "ß", "ü", "\u202e", "\u200b", "例", "xn--"]),
                 max_size=40).map("".join)
TEXT = st.one_of(NASTY, st.text(max_size=300))
FAST = hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(TEXT)
def test_it_normalises_a_domain_to_plain_ascii_or_refuses_it(value: str) -> None:
    try:
        name = normalise_domain(value)
    except InvalidDomain as exc:
        assert str(exc)  # a message for the user, never an empty one
        return
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?", name) and ".." not in name
    assert len(name) <= 253 and normalise_domain(name) == name


@FAST
@given(TEXT)
def test_it_keeps_a_site_directory_inside_its_platform(tmp_path_factory, value: str) -> None:
    docroot = tmp_path_factory.getbasetemp() / "docroot"
    try:
        found = site_dir(docroot, value)
    except (InvalidDomain, UnsafePath):
        return
    assert found.parent == docroot / "sites" and found.name == normalise_domain(value)


@FAST
@given(st.one_of(TEXT, st.builds(lambda a, b: f"/srv/root/{a}/{b}", TEXT, TEXT)))
def test_it_keeps_every_path_inside_the_roots(value: str) -> None:
    roots = Roots(["/srv/root"])
    try:
        found = roots.inside(value)
    except UnsafePath as exc:
        assert str(exc)
        return
    assert found == Path("/srv/root") or Path("/srv/root") in found.parents


@FAST
@given(TEXT, st.integers(min_value=12, max_value=64))
def test_it_derives_names_safe_in_every_engine(value: str, max_len: int) -> None:
    try:
        name = safe_name(value, max_len)
    except ProvisionError:
        return
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", name) and len(name) <= max_len


@FAST
@given(st.text(max_size=400))
def test_it_reads_any_settings_php_without_crashing(text: str) -> None:
    try:
        parse_database_settings(text)
    except ProvisionError:
        pass
    # Fragments of real files, cut anywhere.
    for cut in ("$databases['default']['default'] = array(", "$databases = ['default' => ['default' => ["):
        try:
            parse_database_settings("<?php\n" + cut + text)
        except ProvisionError:
            pass


@FAST
@given(st.text(max_size=60), st.text(max_size=60), st.text(max_size=60))
def test_it_reads_back_the_credentials_it_wrote(database: str, username: str, password: str) -> None:
    """Quotes, backslashes, `$`, NUL and non-ASCII in a password survive the PHP round trip."""
    db = DatabaseSettings(driver="mysql", database=database, username=username, password=password,
                          host="127.0.0.1", port=3306)
    if "\x00" in database + username + password:
        with pytest.raises(ProvisionError, match="NUL"):  # refused when writing, not mangled
            render_settings_php(db, hash_salt="s" * 20, file_public_path="sites/x/files")
        return
    assume(database)  # a connection without a database is no connection: read as none
    text = render_settings_php(db, hash_salt="s" * 20, file_public_path="sites/x/files")
    back = parse_database_settings(text)
    assert back is not None
    assert (back.database, back.username, back.password) == (database, username, password)


# -- through the API -------------------------------------------------------------------------

EVIL = [
    "; touch {canary}", "$(touch {canary})", "`touch {canary}`", "| touch {canary}", "&& touch {canary}",
    "../../../../{canary_name}", "..", "../..", "/etc/passwd", "a\x00b.example.test", "x" * 5000,
    "é" * 300, "例え.テスト", "\u202eevil.test", "-rf", "--root=/", "site.example.test/../../x",
    "' OR 1=1 --", "%2e%2e%2f", "a b.test", "\n\r", "",
]


@pytest.fixture
def bad_world(hm_dirs, transactional_db, settings, admin_user, tmp_path):
    """A demo platform with one installed site, and an API client with the admin's write token."""
    from django.test import Client

    from hosting.engine.worker import execute
    from hosting.inventory import add_site
    from hosting.models import ApiToken, Platform, Server
    from provision.demo import VERSIONS, make_platform
    from provision.platform import find_docroot

    settings.HARBORMASTER_HEARTBEAT = 1.0
    settings.HARBORMASTER_API_RATE = (100_000, 60)  # the fuzzing is not what is limited here
    data = Path(settings.HARBORMASTER_DATA_DIR)
    server = Server.objects.create(name="local", queue="local", hostname="localhost", http="none",
                                   web_conf_dir=str(data / "vhosts"), db_engine="sqlite",
                                   sqlite_dir=str(data / "databases"))
    root = make_platform(tmp_path / "platforms" / "p1", drupal=10)
    from django.utils import timezone

    platform = Platform.objects.create(name="p1", server=server, path=str(root), status="enabled",
                                       docroot=str(find_docroot(root)), drupal_version=VERSIONS[10],
                                       verified_at=timezone.now())
    site, task = add_site("good.example.test", platform)
    execute(task.pk)
    _token, secret = ApiToken.issue(admin_user, "fuzz", "write")
    return {"platform": platform, "site": site, "api": Client(HTTP_AUTHORIZATION=f"Bearer {secret}"),
            "root": tmp_path}


def _escapes(canary_name: str, before: set[str]) -> list[str]:
    """What a path escape would have made: new names in the filesystem root, or names of ours
    in /tmp (which other test runs share, so only our own names count there)."""
    import os

    ours = (canary_name, "fuzz", "plat")
    return ([n for n in os.listdir("/") if n not in before]
            + [n for n in os.listdir("/tmp") if n.startswith(ours)])


def test_it_survives_nasty_values_in_every_field_that_reaches_a_program_or_a_path(bad_world) -> None:
    from hosting.engine.worker import execute
    from hosting.models import Task

    api, platform, site = bad_world["api"], bad_world["platform"], bad_world["site"]
    canary_name = f"r9-pwned-{secrets.token_hex(4)}"
    canary = f"/tmp/{canary_name}"
    import os

    before = set(os.listdir("/"))
    answers: list[tuple[str, int]] = []
    for n, template in enumerate(EVIL):
        value = template.format(canary=canary, canary_name=canary_name)
        fresh = f"fuzz{n}.example.test"
        calls = [
            ("/api/v1/sites", {"domain": value, "platform": platform.pk}),
            ("/api/v1/sites", {"domain": fresh, "platform": platform.pk, "aliases": [value]}),
            ("/api/v1/sites", {"domain": "p" + fresh, "platform": platform.pk, "profile": value}),
            ("/api/v1/platforms", {"name": value, "path": str(bad_world["root"] / f"plat{n}")}),
            ("/api/v1/platforms", {"name": f"plat{n}", "path": value}),
            (f"/api/v1/sites/{site.pk}/tasks", {"type": "clone", "domain": value}),
            (f"/api/v1/sites/{site.pk}/tasks", {"type": value}),
        ]
        for url, body in calls:
            answer = api.post(url, body, content_type="application/json")
            answers.append((f"{url} {body!r}"[:160], answer.status_code))
        # Whatever was accepted runs, as a worker would run it.
        for pk in Task.objects.filter(state=Task.QUEUED).values_list("pk", flat=True):
            execute(pk)
    assert [a for a in answers if a[1] >= 500] == []
    assert not Path(canary).exists(), "a value ran as a shell command"
    assert _escapes(canary_name, before) == []
    assert {code for _call, code in answers} <= {201, 202, 400, 404, 409, 422}
