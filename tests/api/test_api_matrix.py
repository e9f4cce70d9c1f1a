"""Every API operation of the OpenAPI schema, called with a token of an admin, acme's manager,
member and viewer, and globex's member, on acme's and globex's objects. A new operation fails
this test until it is classified in OPERATIONS."""
from __future__ import annotations

import pytest

from hosting.api import api
from tests.tenancy.conftest import MARKERS, api_client, foreign_markers, owns

ROLES = ["admin", "manager", "member", "viewer", "outsider"]
OK = {200, 201, 202}
# A refusal because of the object's state (a task already active, a control that does not
# apply) rather than the caller's rights: counts as "allowed" here.
ALLOWED = OK | {409}

READ, ADMIN_WRITE, ACT, MANAGER_ONLY, MANAGE = "read", "admin-write", "act", "admin-act", "manage"
READ_FILE = "read-file"  # a read that may find the file unavailable (409)

# (method, path) -> what it is. READ: any role on its own objects, 404 on others'.
# ACT: managers and members on their client's objects; viewers 403. ADMIN_WRITE: admins only
# (403 for everyone else, 404 on what they cannot see). MANAGE: the client's managers and admins.
OPERATIONS: dict[tuple[str, str], str] = {
    ("get", "/api/v1/servers"): READ, ("get", "/api/v1/servers/{server_id}"): READ,
    ("post", "/api/v1/servers"): ADMIN_WRITE, ("patch", "/api/v1/servers/{server_id}"): ADMIN_WRITE,
    ("patch", "/api/v1/platforms/{platform_id}"): ADMIN_WRITE, ("patch", "/api/v1/clients/{client_id}"): ADMIN_WRITE,
    ("get", "/api/v1/users"): ADMIN_WRITE,
    ("get", "/api/v1/platforms"): READ, ("get", "/api/v1/platforms/{platform_id}"): READ,
    ("post", "/api/v1/platforms"): ADMIN_WRITE,
    ("post", "/api/v1/platforms/build"): ADMIN_WRITE,
    ("get", "/api/v1/platforms/{platform_id}/build"): ADMIN_WRITE,
    ("post", "/api/v1/platforms/{platform_id}/next"): ADMIN_WRITE,
    ("get", "/api/v1/sites"): READ, ("get", "/api/v1/sites/{site_id}"): READ, ("post", "/api/v1/sites"): ACT,
    ("get", "/api/v1/clients"): READ, ("get", "/api/v1/clients/{client_id}"): READ,
    ("post", "/api/v1/clients"): ADMIN_WRITE,
    ("get", "/api/v1/clients/{client_id}/members"): READ, ("post", "/api/v1/clients/{client_id}/invitations"): MANAGE,
    ("get", "/api/v1/backups"): READ, ("get", "/api/v1/backups/{backup_id}"): READ, ("post", "/api/v1/backups"): ACT,
    ("post", "/api/v1/sites/{site_id}/tasks"): ACT,
    ("post", "/api/v1/platforms/{platform_id}/tasks"): ADMIN_WRITE,
    ("post", "/api/v1/servers/{server_id}/tasks"): ADMIN_WRITE,
    ("get", "/api/v1/tasks"): READ, ("get", "/api/v1/tasks/{task_id}"): READ,
    ("get", "/api/v1/tasks/{task_id}/log"): READ,
    ("post", "/api/v1/tasks/{task_id}/cancel"): ACT, ("post", "/api/v1/tasks/{task_id}/retry"): ACT,
    ("post", "/api/v1/tasks/{task_id}/force-stop"): ADMIN_WRITE,
    ("post", "/api/v1/tasks/{task_id}/resume"): ADMIN_WRITE, ("post", "/api/v1/tasks/{task_id}/skip"): ADMIN_WRITE,
    ("post", "/api/v1/tasks/{task_id}/abort"): ADMIN_WRITE,
    ("get", "/api/v1/locks"): READ, ("post", "/api/v1/locks/{lock_id}/force-unlock"): ADMIN_WRITE,
    ("post", "/api/v1/sites/{site_id}/resolve-duplicate"): ADMIN_WRITE,
    ("post", "/api/v1/sites/{site_id}/adopt-database"): ADMIN_WRITE,
    ("get", "/api/v1/sites/{site_id}/domains"): READ, ("post", "/api/v1/sites/{site_id}/aliases"): ACT,
    ("delete", "/api/v1/sites/{site_id}/aliases/{alias}"): ACT, ("patch", "/api/v1/sites/{site_id}/redirects"): ACT,
    ("post", "/api/v1/aegir-import"): ADMIN_WRITE,
    ("get", "/api/v1/status"): READ, ("get", "/api/v1/audit"): READ,
    # The cast's backup file is not inside the backup store: the download and the delete are
    # refused with 409 once the caller's rights are settled.
    ("get", "/api/v1/backups/{backup_id}/download"): READ_FILE, ("delete", "/api/v1/backups/{backup_id}"): ACT,
    ("post", "/api/v1/backups/{backup_id}/restore-deleted"): MANAGE,
    ("get", "/api/v1/sites/{site_id}/backup-schedule"): READ, ("put", "/api/v1/sites/{site_id}/backup-schedule"): ACT,
    ("get", "/api/v1/sites/{site_id}/https"): READ, ("patch", "/api/v1/sites/{site_id}/https"): ACT,
    ("post", "/api/v1/sites/{site_id}/https/upload"): ACT,
    ("get", "/api/v1/sites/{site_id}/cron"): READ, ("post", "/api/v1/sites/{site_id}/cron"): ACT,
    ("post", "/api/v1/sites/{site_id}/sync"): ACT,
    ("post", "/api/v1/platforms/{platform_id}/migrate-sites"): ADMIN_WRITE, ("get", "/api/v1/batches"): ADMIN_WRITE,
    ("get", "/api/v1/batches/{batch_id}"): ADMIN_WRITE, ("post", "/api/v1/batches/{batch_id}/pause"): ADMIN_WRITE,
    ("post", "/api/v1/batches/{batch_id}/resume"): ADMIN_WRITE,
    # The cast's server runs no web server: its logs are a 409 once the caller's rights are settled.
    ("get", "/api/v1/sites/{site_id}/logs"): READ_FILE,
    # Off-site remotes: a client's remote is configured by its managers (and administrators).
    ("get", "/api/v1/remotes"): READ, ("post", "/api/v1/remotes"): MANAGE,
    ("delete", "/api/v1/remotes/{remote_id}"): MANAGE,
}


def operations() -> list[tuple[str, str]]:
    paths = api.get_openapi_schema()["paths"]
    return [(method, path) for path, item in paths.items() for method in item]


def body_for(method: str, path: str, role: str, objects: dict[str, int], world) -> dict | None:
    """A valid body, so that the answer is about rights, not input."""
    if method == "put":
        return {"frequency": "daily"}
    if method == "get":
        return None
    n = len(world["calls"])
    world["calls"].append(path)
    if path == "/api/v1/sites/{site_id}/https/upload":
        from hosting.models import Site
        from tests import certs

        site = Site.objects.get(pk=objects["site_id"])
        made = certs.bundle([site.domain, *site.aliases])
        return {"certificate": made.chain.decode(), "key": made.key.decode()}
    bodies = {
        "/api/v1/servers": {"name": f"srv{n}", "queue": f"q{n}"},
        "/api/v1/platforms": {"name": f"p{n}", "path": str(world["root"] / f"p{n}")},
        "/api/v1/platforms/build": {"repository": str(world["root"] / "r.git"), "ref": "main", "name": f"g{n}"},
        "/api/v1/platforms/{platform_id}/next": {"ref": "main"},
        "/api/v1/sites": {"domain": f"n{n}.{role}.test", "platform": objects["platform_id"],
                          "client": objects["client_id"]},
        "/api/v1/clients": {"name": f"c{n}"},
        "/api/v1/backups": {"site": objects["site_id"]},
        "/api/v1/clients/{client_id}/invitations": {"email": f"i{n}@{role}.test", "role": "member"},
        "/api/v1/sites/{site_id}/resolve-duplicate": {"platform": objects["platform_id"]},
        "/api/v1/sites/{site_id}/adopt-database": {"database": "theirs"},
        "/api/v1/sites/{site_id}/aliases": {"alias": f"a{n}.{role}.test"},
        "/api/v1/sites/{site_id}/redirects": {"alias_mode": "redirect"},
        "/api/v1/platforms/{platform_id}": {"clients": [objects["client_id"]]},
        "/api/v1/servers/{server_id}": {"max_sites": 50}, "/api/v1/clients/{client_id}": {"max_sites": 50},
        "/api/v1/sites/{site_id}/aliases/{alias}": {},
        "/api/v1/sites/{site_id}/https": {"mode": "on"},
        "/api/v1/aegir-import": {"directory": str(world["root"])},
        "/api/v1/sites/{site_id}/cron": {"interval": 30},
        "/api/v1/sites/{site_id}/sync": {"source": objects["site_id"]},
        "/api/v1/platforms/{platform_id}/migrate-sites": {"target": objects["platform_id"]},
        "/api/v1/batches/{batch_id}/resume": {},
        "/api/v1/remotes": {"server": objects["server_id"], "client": objects["client_id"], "name": f"r{n}",
                            "kind": "s3", "options": {"bucket": "hm-backups"},
                            "secrets": {"access_key_id": "key-id-1", "secret_access_key": "secret-1"}},
    }
    return bodies.get(path, {"type": "verify"})


def expected(kind: str, method: str, path: str, role: str, owner: str) -> set[int]:
    has_object = "{" in path or method == "post" and path in ("/api/v1/sites", "/api/v1/backups", "/api/v1/remotes")
    if has_object and not owns(role, owner):
        return {404}
    if kind == READ:
        return {200}
    if kind == READ_FILE:
        return {200, 409}
    if kind == ADMIN_WRITE:
        return ALLOWED if role == "admin" else {403}
    if kind == MANAGE:  # the client's managers and administrators
        return ALLOWED if role in ("admin", "manager") else {403}
    assert kind == ACT
    return {403} if role == "viewer" else ALLOWED


def test_it_classifies_every_operation():
    assert set(operations()) == set(OPERATIONS), "classify new API operations in OPERATIONS"


@pytest.mark.parametrize("role", ROLES)
def test_it_shows_and_lets_each_role_do_only_what_it_may(world, role, tmp_path, settings):
    settings.HARBORMASTER_API_RATE = (10_000, 60)  # every operation twice: more than a token's default minute
    world["calls"], world["root"] = [], tmp_path
    http = api_client(world["users"][role], "write", name=f"matrix-{role}")
    problems, seen = [], []
    # The own client's objects first, so that a refused POST cannot hide behind a 404 from an
    # earlier change; reads before writes.
    for owner in ("acme", "globex"):
        objects = world["objects"][owner]
        for method, path in sorted(operations(), key=lambda op: op[0] != "get"):
            url = path.format(**objects, alias="none.acme.test")
            body = body_for(method, path, role, objects, world)
            if method == "get":
                response = http.get(url)
            elif method == "delete":
                response = http.delete(url)
            elif method == "put":
                response = http.put(url, body, content_type="application/json")
            else:
                response = getattr(http, method)(url, body, content_type="application/json")
            want = expected(OPERATIONS[(method, path)], method, path, role, owner)
            if response.status_code not in want:
                problems.append(f"{method.upper()} {url} ({owner}) as {role}: {response.status_code} "
                                f"{response.content[:200]!r}, expected {want}")
                continue
            if response.status_code >= 400:
                assert set(response.json()) == {"code", "message"}
            text = (b"".join(response.streaming_content) if response.streaming else response.content).decode()
            seen.append(text)
            leaked = [m for m in foreign_markers(role) if m in text]
            if leaked:
                problems.append(f"{method.upper()} {url} as {role} shows {leaked}")
    assert not problems, "\n".join(problems)
    own = MARKERS["globex"] if role == "outsider" else MARKERS["acme"]
    assert all(any(m in text for text in seen) for m in own)
