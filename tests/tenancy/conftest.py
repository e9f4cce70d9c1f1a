"""The tenancy cast: the panel's (tests/views/conftest.py) plus a manager and a viewer of acme,
a platform only globex may use, and API clients holding a token of any of the users."""
from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from tests.conftest import user_in
from tests.views.conftest import *  # noqa: F401,F403 - the panel's cast, shared


@pytest.fixture
def manager(db, django_user_model, acme):
    return user_in(django_user_model, "manager", acme, "manager")


@pytest.fixture
def viewer(db, django_user_model, acme):
    return user_in(django_user_model, "viewer", acme, "viewer")


@pytest.fixture
def globex_platform(server, tmp_path, globex):
    from django.utils import timezone

    from hosting.models import Platform

    platform = Platform.objects.create(name="globex-only", server=server, path=str(tmp_path / "gx"),
                                       status="enabled", drupal_version="10.3.1", verified_at=timezone.now())
    platform.clients.set([globex])
    return platform


def api_client(user, scope: str = "write", name: str = "ci-deploy", **token_fields) -> HttpClient:
    """A test client that sends USER's new token on every request."""
    from hosting.models import ApiToken

    token, secret = ApiToken.issue(user, name, scope, **token_fields)
    client = HttpClient(HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="203.0.113.9")
    client.token = token
    return client


@pytest.fixture
def api_as():
    return api_client


# Strings that only the objects of one client carry: a page or answer shown to someone of the
# other client must contain none of them.
MARKERS = {"acme": ("www.acme.test", "Acme Corp", "line 0 of acme", "acme-secret-event"),
           "globex": ("shop.globex.test", "Globex", "globex secret failure", "globex-secret-event")}


@pytest.fixture
def world(hm_dirs, admin_user, manager, member, viewer, outsider, acme, globex, server, platform,
          globex_platform, site, globex_site, site_task, globex_task, backup):
    """Two clients with nothing in common: acme's site on platform d10 (open to acme only) of
    server `local`, globex's on `globex-only` of server `gx`; a task, a lock, a backup, a token,
    an invitation and an audit event of each."""
    from hosting import audit, invitations
    from hosting.models import ApiToken, Backup, BackupRemote, Lock, Membership, MigrationBatch, Server, Site, Task

    gx = Server.objects.create(name="gx", queue="gx", hostname="gx.example.test")
    globex_platform.server = gx
    globex_platform.save()
    platform.clients.set([acme])
    Site.objects.filter(pk=globex_site.pk).update(platform=globex_platform)
    Task.objects.filter(pk=globex_task.pk).update(platform=globex_platform, server=gx)
    globex_backup = Backup.objects.create(site=globex_site, domain=globex_site.domain, client=globex,
                                          path="/var/backups/gx.tar.zst", size=1 << 20, task=globex_task)
    audit.record(member, "site.note", site, detail="acme-secret-event")
    audit.record(outsider, "site.note", globex_site, detail="globex-secret-event")
    objects = {
        "acme": {"site_id": site.pk, "platform_id": platform.pk, "server_id": server.pk, "task_id": site_task.pk,
                 "client_id": acme.pk, "backup_id": backup.pk,
                 "lock_id": Lock.objects.create(key=f"site:{site.pk}", task=site_task).pk,
                 "membership_id": Membership.objects.get(user=member).pk,
                 "token_id": ApiToken.issue(member, "acme-token", "write")[0].pk,
                 "invitation_id": invitations.invite(acme, "new@acme.test", "member", by=manager)[0].pk,
                 "batch_id": MigrationBatch.objects.create(source=platform, target=platform).pk,
                 "remote_id": BackupRemote.objects.create(server=server, client=acme, name="acme-own", kind="s3",
                                                          options={"bucket": "hm-acme"}).pk},
        "globex": {"site_id": globex_site.pk, "platform_id": globex_platform.pk, "server_id": gx.pk,
                   "task_id": globex_task.pk, "client_id": globex.pk, "backup_id": globex_backup.pk,
                   "lock_id": Lock.objects.create(key=f"site:{globex_site.pk}", task=globex_task).pk,
                   "membership_id": Membership.objects.get(user=outsider).pk,
                   "token_id": ApiToken.issue(outsider, "globex-token", "write")[0].pk,
                   "invitation_id": invitations.invite(globex, "new@globex.test", "member", by=admin_user)[0].pk,
                   "batch_id": MigrationBatch.objects.create(source=globex_platform, target=globex_platform).pk,
                   "remote_id": BackupRemote.objects.create(server=gx, client=globex, name="globex-own", kind="s3",
                                                            options={"bucket": "hm-globex"}).pk},
    }
    users = {"admin": admin_user, "manager": manager, "member": member, "viewer": viewer, "outsider": outsider}
    return {"objects": objects, "users": users}


def owns(role: str, owner: str) -> bool:
    """Is the OWNER client's object one ROLE's user may see?"""
    return role == "admin" or (owner == "globex") == (role == "outsider")


def foreign_markers(role: str) -> tuple[str, ...]:
    if role == "admin":
        return ()
    return MARKERS["acme"] if role == "outsider" else MARKERS["globex"]


def body_text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")
