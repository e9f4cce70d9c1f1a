"""Every panel URL, walked as an admin, acme's manager, member and viewer, and globex's member,
on acme's and on globex's objects. The list of routes comes from the URL resolver: a new route
fails this test until it is classified in ROUTES."""
from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from django.urls import URLPattern, URLResolver, reverse

from hosting import urls
from hosting.models import AuditEvent, Invitation, Membership, Task
from tests.tenancy.conftest import MARKERS, body_text, foreign_markers, owns

ROLES = ["admin", "manager", "member", "viewer", "outsider"]
# Fixed values of parameters that are not objects.
WORDS = {"kind": {"site-task": "backup", "platform-task": "verify", "server-task": "verify"}, "action": "cancel",
         "token": "not-an-invitation-token", "uidb64": "MQ"}

LIST, PUBLIC, NOGET, ADMIN, GONE = "list", "public", "noget", "admin", "gone"
ACTORS = "actors"  # a page for whoever may start work (not a viewer), each for their own client


def obj(**own: int) -> dict[str, int]:
    """A page about one object: 404 when not the user's; on their own, 200 unless OWN says."""
    return own


ACTING = {"viewer": 403}        # a viewer sees but may not start or control anything
ADMIN_ONLY_TASK = {"admin": 302, "manager": 403, "member": 403, "viewer": 403}
ADMIN_ONLY_EDIT = {"manager": 403, "member": 403, "viewer": 403}  # 404 where not seen

ROUTES: dict[str, object] = {
    "dashboard": LIST, "login": PUBLIC, "logout": NOGET,
    # Reset by e-mail: for anyone, logged in or not (a link whose token is wrong says so, 200).
    "password-reset": PUBLIC, "password-reset-done": PUBLIC, "password-reset-confirm": PUBLIC,
    "password-reset-complete": PUBLIC,
    "password-change": LIST, "password-change-done": LIST,
    "people-list": ADMIN,
    "site-list": LIST, "site-new": ACTORS,
    "site-detail": obj(), "site-task": obj(admin=302, manager=302, member=302, viewer=403),
    "site-delete-record": ADMIN, "site-resolve-duplicate": NOGET,
    "site-adopt-database": NOGET, "site-cron-interval": NOGET,
    "site-https-upload": obj(viewer=403),
    # Logs: whoever sees the site reads its logs (the page says why a log cannot be read).
    "site-logs": obj(),
    # Backups: everyone who sees the site sees and downloads them (the cast's backup file is not
    # in the backup store: 409); deleting and restoring is for whoever may start work.
    "site-backups": obj(), "backup-list": LIST, "remote-list": LIST, "remote-delete": NOGET,
    "backup-download": obj(admin=409, manager=409, member=409, viewer=409),
    "backup-delete": obj(viewer=403),
    "backup-restore-deleted": obj(admin=302, manager=302, member=302, viewer=403),
    "platform-list": LIST, "platform-new": ADMIN, "platform-detail": obj(),
    "platform-clients": obj(**ADMIN_ONLY_EDIT), "platform-task": obj(**ADMIN_ONLY_TASK),
    "platform-delete-record": ADMIN,
    # Built from Git: administrators build; the push webhook is a POST signed by the Git host.
    "platform-new-git": ADMIN, "platform-next": obj(**ADMIN_ONLY_EDIT), "platform-webhook-secret": NOGET,
    "platform-webhook": NOGET,
    "server-list": LIST, "server-new": ADMIN, "server-edit": obj(**ADMIN_ONLY_EDIT),
    "server-detail": obj(), "server-task": obj(**ADMIN_ONLY_TASK),
    "aegir-import": ADMIN,
    "task-list": LIST, "task-export": LIST, "task-bulk-cancel": NOGET,
    "task-detail": obj(), "task-log": obj(), "task-log-text": obj(), "task-control": obj(**ACTING),
    "lock-list": LIST, "lock-unlock": ADMIN,
    "client-list": LIST, "client-new": ADMIN, "client-edit": obj(**ADMIN_ONLY_EDIT),
    "client-detail": obj(), "client-member-remove": NOGET,
    "client-invite": NOGET, "client-invitation-revoke": NOGET,
    "invitation-accept": GONE,  # a link whose token is not an invitation's: nothing to see
    "audit-list": LIST, "audit-export": LIST,
    "token-list": LIST, "token-revoke": NOGET, "notification-preferences": LIST,
    "status": ADMIN, "status-json": PUBLIC,
    "batch-detail": obj(**ADMIN_ONLY_EDIT), "batch-control": NOGET,
}
# Included URL sets covered elsewhere: Django's admin (staff only) and the API (tests/api).
INCLUDES = {"admin/", "api/v1/"}


def routes() -> list[tuple[str, list[str]]]:
    found = []
    for entry in urls.urlpatterns:
        if isinstance(entry, URLResolver):
            assert str(entry.pattern) in INCLUDES, f"unclassified include {entry.pattern}"
            continue
        assert isinstance(entry, URLPattern)
        found.append((entry.name, list(entry.pattern.converters)))
    return found


def url_for(name: str, params: list[str], objects: dict[str, int]) -> str:
    kwargs = {}
    for p in params:
        if p in WORDS:
            kwargs[p] = WORDS[p][name] if isinstance(WORDS[p], dict) else WORDS[p]
        else:
            kwargs[p] = objects[p]
    return reverse(name, kwargs=kwargs)


def expected(spec: object, role: str, owner: str) -> set[int]:
    if spec == LIST:
        return {200}
    if spec == PUBLIC:
        return {200, 302, 503}
    if spec == NOGET:
        return {405}
    if spec == ADMIN:
        return {200} if role == "admin" else {403}
    if spec == ACTORS:
        return {403} if role == "viewer" else {200}
    if spec == GONE:
        return {404}
    assert isinstance(spec, dict)
    # The outsider is a plain member of globex: on globex's objects it is what a member is.
    return {spec.get("member" if role == "outsider" else role, 200)} if owns(role, owner) else {404}


def test_it_classifies_every_route():
    names = [name for name, _ in routes()]
    assert len(names) == len(set(names))
    assert set(names) == set(ROUTES), "classify new routes in ROUTES (and remove gone ones)"


@pytest.mark.parametrize("role", ROLES)
def test_it_shows_each_role_only_what_it_may_see(world, role):
    client = HttpClient()
    client.force_login(world["users"][role])
    problems, seen = [], []
    for name, params in routes():
        for owner in (("acme", "globex") if params else ("acme",)):
            url = url_for(name, params, world["objects"][owner])
            response = client.get(url)
            want = expected(ROUTES[name], role, owner)
            if response.status_code not in want:
                problems.append(f"GET {url} ({name}, {owner}) as {role}: {response.status_code}, expected {want}")
                continue
            text = body_text(response)
            seen.append(text)
            leaked = [m for m in foreign_markers(role) if m in text]
            if leaked:
                problems.append(f"GET {url} ({name}) as {role} shows {leaked}")
    assert not problems, "\n".join(problems)
    # The markers do show where they may: the leak check above is not vacuous.
    own = MARKERS["globex"] if role == "outsider" else MARKERS["acme"]
    assert all(any(m in text for text in seen) for m in own)


@pytest.mark.parametrize("role", ["manager", "member", "viewer", "outsider"])
def test_it_lets_nobody_act_on_what_is_not_theirs(world, role):
    """POST to every route that names an object, on the other client's objects (and, for the
    viewer, on its own client's too): refused, and nothing recorded."""
    client = HttpClient()
    client.force_login(world["users"][role])
    events, tasks, members = AuditEvent.objects.count(), Task.objects.count(), Membership.objects.count()
    invited = Invitation.objects.count()
    problems = []
    for name, params in routes():
        if not params:
            continue
        for owner in ("acme", "globex"):
            if owns(role, owner) and role != "viewer":
                continue
            url = url_for(name, params, world["objects"][owner])
            data = {"username": "viewer", "role": "manager", "confirm": "x", "dead": "on", "email": "me@evil.test"}
            status = client.post(url, data).status_code
            # A page that only reads answers a viewer's POST like a GET (the counts below show
            # that nothing changed); anything that acts must refuse.
            refused = (403, 404, 405) + ((200,) if owns(role, owner) and ROUTES[name] == {} else ())
            # A public page with a token in its URL (a password reset link) answers a wrong token
            # with "this link does not work": nothing to refuse, and the counts show nothing changed.
            refused += (200,) if ROUTES[name] == PUBLIC else ()
            if status not in refused:
                problems.append(f"POST {url} ({name}, {owner}) as {role}: {status}")
    assert not problems, "\n".join(problems)
    assert (AuditEvent.objects.count(), Task.objects.count(), Membership.objects.count()) == (events, tasks, members)
    assert Invitation.objects.count() == invited
