"""The Import from Aegir page and API endpoint: administrators read the plan of a directory
inside the roots, then import it; everyone else is refused, and a directory outside the roots is
an error that records nothing."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from hosting.models import AuditEvent, Platform, Site, Task
from tests.aegir_install import make_aegir
from tests.tenancy.conftest import api_client


@pytest.fixture
def install(hm_dirs, server):
    server.sqlite_dir = str(Path(hm_dirs) / "data" / "databases")
    server.save()
    aegir = make_aegir(Path(hm_dirs), Path(server.sqlite_dir))
    aegir.server()
    aegir.platform("platform_d7")
    aegir.site("a.example.test", "platform_d7", client="acme", aliases=("www.a.example.test",))
    aegir.site("gone.example.test", "platform_d7", build=False)
    return aegir


def test_an_admin_reads_the_plan_then_imports(as_admin, install, server):
    url = reverse("aegir-import")
    assert as_admin.get(url).status_code == 200
    data = {"directory": str(install.drush), "server": server.pk}
    response = as_admin.post(url, {**data, "confirm": "plan"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "a.example.test" in text and "www.a.example.test" in text and "site directory missing" in text
    assert not Site.objects.exists() and not Task.objects.exists()
    response = as_admin.post(url, {**data, "confirm": "import"})
    assert response.status_code == 200 and "Imported 1 platform(s), 1 site(s)" in response.content.decode()
    assert Site.objects.get().aegir["context"] == "a.example.test"
    assert Task.objects.filter(kind="verify").count() == 2
    assert AuditEvent.objects.filter(action="aegir.imported").count() == 1
    audit = as_admin.get(reverse("audit-list"))
    assert audit.status_code == 200 and "aegir.imported" in audit.content.decode()


def test_a_directory_outside_the_roots_is_refused(as_admin, install, server):
    response = as_admin.post(reverse("aegir-import"), {"directory": "/etc", "confirm": "import"})
    assert response.status_code == 400 and response.context["form"].errors["directory"]
    assert not Platform.objects.exists() and not AuditEvent.objects.filter(action="aegir.imported").exists()


def test_clients_cannot_import(as_member, install, server, member):
    """A client member: the page, the plan and the import are refused; the API as well."""
    url = reverse("aegir-import")
    assert as_member.get(url).status_code == 403
    assert as_member.post(url, {"directory": str(install.drush), "confirm": "import"}).status_code == 403
    http = api_client(member, "write", name="aegir")
    response = http.post("/api/v1/aegir-import", {"directory": str(install.drush), "dry_run": False},
                         content_type="application/json")
    assert response.status_code == 403
    assert not Platform.objects.exists() and not Site.objects.exists()


def test_the_api_plans_and_imports_for_admins(admin_user, install, server):
    http = api_client(admin_user, "write", name="aegir")
    plan = http.post("/api/v1/aegir-import", {"directory": str(install.drush), "server": server.pk},
                     content_type="application/json").json()
    assert [s["domain"] for s in plan["sites"]] == ["a.example.test"] and not Site.objects.exists()
    done = http.post("/api/v1/aegir-import", {"directory": str(install.drush), "server": server.pk, "dry_run": False},
                     content_type="application/json").json()
    assert done["counts"]["sites"] == 1 and len(done["tasks"]) == 2
    bad = http.post("/api/v1/aegir-import", {"directory": "/etc"}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "bad_input"
