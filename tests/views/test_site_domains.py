"""A site's Domains section, and the same starts from the API and the command line: aliases added
and removed, redirects set, each a queued task; bad and taken names refused with the reason,
naming the site that holds a name only to whoever may know it (an administrator or the holder's
own client), never to another client."""
from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from hosting.models import Site, Task
from tests.tenancy.conftest import api_client


def _post(client, site, kind, **data):
    return client.post(reverse("site-task", args=[site.pk, kind]), data)


def test_it_shows_the_domains_section(as_member, site):
    Site.objects.filter(pk=site.pk).update(aliases=["blog.acme.test"])
    page = as_member.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert 'id="domains"' in page and "blog.acme.test" in page
    assert 'aria-label="Remove alias blog.acme.test"' in page and "Add alias" in page and "Save redirects" in page


def test_it_queues_an_alias_and_leaves_the_record_to_the_task(as_member, site):
    response = _post(as_member, site, "alias-add", alias=" Blog.Acme.test. ")
    task = Task.objects.get(kind="alias-add")
    assert response.status_code == 302 and response["Location"] == reverse("task-detail", args=[task.pk])
    assert task.args == {"alias": "blog.acme.test"} and task.site_id == site.pk
    site.refresh_from_db()
    assert site.aliases == []  # the task claims it when it runs


@pytest.mark.parametrize("bad", ["not a domain", "x/../y.test", "localhost", "a..b.test", "-a.test", "1.2.3.4"])
def test_it_refuses_an_invalid_alias(as_member, site, bad):
    response = _post(as_member, site, "alias-add", alias=bad)
    assert response.status_code == 200 and "field-error" in response.content.decode()
    assert not Task.objects.exists()


def test_it_refuses_the_sites_own_names(as_member, site):
    assert "the site&#x27;s own domain" in _post(as_member, site, "alias-add", alias="www.acme.test").content.decode()
    Site.objects.filter(pk=site.pk).update(aliases=["blog.acme.test"])
    assert "alias of this site already" in _post(as_member, site, "alias-add", alias="blog.acme.test").content.decode()
    assert not Task.objects.exists()


def test_it_names_the_holder_to_the_same_client(as_member, site, platform, acme):
    Site.objects.create(domain="other.acme.test", platform=platform, client=acme, status="enabled",
                        aliases=["promo.acme.test"])
    text = _post(as_member, site, "alias-add", alias="promo.acme.test").content.decode()
    assert "promo.acme.test is taken: it is an alias of site other.acme.test." in text
    assert not Task.objects.exists()


def test_it_never_names_another_clients_site(as_member, site, globex_site, platform, globex):
    Site.objects.filter(pk=globex_site.pk).update(aliases=["promo.globex.test"])
    for name in ("shop.globex.test", "promo.globex.test"):
        text = _post(as_member, site, "alias-add", alias=name).content.decode()
        assert f"{name} is taken." in text
        assert "of site" not in text and ("shop.globex.test" not in text or name == "shop.globex.test")
    assert not Task.objects.exists()


def test_it_names_the_holder_to_an_administrator(as_admin, site, globex_site):
    text = _post(as_admin, site, "alias-add", alias="shop.globex.test").content.decode()
    assert "shop.globex.test is taken: it is its domain of site shop.globex.test." in text


def test_it_refuses_a_new_site_on_another_sites_alias(site, platform, acme):
    from hosting.inventory import InventoryError, add_site

    Site.objects.filter(pk=site.pk).update(aliases=["blog.acme.test"])
    with pytest.raises(InventoryError, match="blog.acme.test is taken"):
        add_site("blog.acme.test", platform, client=acme)
    with pytest.raises(InventoryError, match="blog.acme.test is taken"):
        add_site("new.acme.test", platform, client=acme, aliases=["blog.acme.test"])
    assert not Site.objects.filter(domain="new.acme.test").exists()


def test_it_keeps_other_clients_out(as_outsider, site):
    assert _post(as_outsider, site, "alias-add", alias="evil.test").status_code == 404
    assert _post(as_outsider, site, "redirects", alias_mode="redirect").status_code == 404
    assert as_outsider.get(reverse("site-task", args=[site.pk, "alias-add"])).status_code == 404
    assert not Task.objects.exists()


def test_it_queues_redirects_that_fit_the_domain(as_member, site):
    # www.acme.test: only the bare name can redirect to it.
    text = _post(as_member, site, "redirects", alias_mode="serve", www_redirect="to-bare").content.decode()
    assert "is a www. name" in text and not Task.objects.exists()
    response = _post(as_member, site, "redirects", alias_mode="redirect", www_redirect="to-www")
    assert response.status_code == 302
    assert Task.objects.get(kind="redirects").args == {"alias_mode": "redirect", "www_redirect": "to-www"}


def test_it_refuses_a_www_redirect_onto_a_taken_name(as_member, site, platform, globex):
    Site.objects.create(domain="acme.test", platform=platform, client=globex, status="enabled")
    text = _post(as_member, site, "redirects", alias_mode="serve", www_redirect="to-www").content.decode()
    assert "acme.test is taken." in text and not Task.objects.exists()


def test_it_removes_only_an_alias_the_site_has(as_member, site):
    Site.objects.filter(pk=site.pk).update(aliases=["blog.acme.test"])
    assert _post(as_member, site, "alias-remove", alias="nope.acme.test").status_code == 200
    assert not Task.objects.exists()
    assert _post(as_member, site, "alias-remove", alias="blog.acme.test").status_code == 302
    assert Task.objects.get(kind="alias-remove").args == {"alias": "blog.acme.test"}


# -- the API ---------------------------------------------------------------------------------

def test_the_api_adds_removes_and_redirects(member, site):
    http = api_client(member)
    base = f"/api/v1/sites/{site.pk}"
    assert http.get(f"{base}/domains").json() == {"domain": "www.acme.test", "aliases": [], "alias_mode": "serve",
                                                   "www_redirect": "", "names": ["www.acme.test"]}
    answer = http.post(f"{base}/aliases", {"alias": "blog.acme.test"}, content_type="application/json")
    assert answer.status_code == 202 and answer.json()["type"] == "alias-add"
    Task.objects.all().delete()
    Site.objects.filter(pk=site.pk).update(aliases=["blog.acme.test"])
    answer = http.delete(f"{base}/aliases/blog.acme.test")
    assert answer.status_code == 202 and answer.json()["args"] == {"alias": "blog.acme.test"}
    Task.objects.all().delete()
    answer = http.patch(f"{base}/redirects", {"alias_mode": "redirect"}, content_type="application/json")
    assert answer.status_code == 202 and answer.json()["type"] == "redirects"


def test_the_api_refuses_taken_and_bad_names_without_naming_the_holder(member, site, globex_site):
    http = api_client(member)
    answer = http.post(f"/api/v1/sites/{site.pk}/aliases", {"alias": "shop.globex.test"},
                       content_type="application/json")
    assert answer.status_code == 400 and answer.json()["message"] == "alias: shop.globex.test is taken."
    answer = http.post(f"/api/v1/sites/{site.pk}/aliases", {"alias": "a b"}, content_type="application/json")
    assert answer.status_code == 400 and "alias:" in answer.json()["message"]
    assert not Task.objects.exists()


def test_the_api_keeps_other_clients_out(outsider, site):
    http = api_client(outsider)
    assert http.get(f"/api/v1/sites/{site.pk}/domains").status_code == 404
    assert http.post(f"/api/v1/sites/{site.pk}/aliases", {"alias": "evil.test"},
                     content_type="application/json").status_code == 404
    assert http.delete(f"/api/v1/sites/{site.pk}/aliases/www.acme.test").status_code == 404
    assert http.patch(f"/api/v1/sites/{site.pk}/redirects", {"alias_mode": "redirect"},
                      content_type="application/json").status_code == 404
    assert not Task.objects.exists()


# -- the command line ------------------------------------------------------------------------

def _cli(*args: str) -> str:
    out = StringIO()
    call_command("site", *args, stdout=out)
    return out.getvalue()


def test_the_command_line_adds_lists_removes_and_redirects(site):
    assert _cli("alias", "list", "www.acme.test").strip() == "No aliases."
    out = _cli("alias", "add", "www.acme.test", "blog.acme.test")
    task = Task.objects.get(kind="alias-add")
    assert f"queued as task {task.pk}" in out and task.args == {"alias": "blog.acme.test"}
    with pytest.raises(CommandError, match="in progress|wait for it"):
        _cli("alias", "add", "www.acme.test", "more.acme.test")
    Task.objects.all().delete()
    Site.objects.filter(pk=site.pk).update(aliases=["blog.acme.test"])
    assert "blog.acme.test" in _cli("alias", "list", "www.acme.test")
    assert '"names"' in _cli("alias", "list", "www.acme.test", "--json")
    _cli("alias", "remove", "www.acme.test", "blog.acme.test")
    Task.objects.all().delete()
    _cli("redirect", "www.acme.test", "--aliases", "redirect", "--www", "to-www")
    assert Task.objects.get(kind="redirects").args == {"alias_mode": "redirect", "www_redirect": "to-www"}
    assert "aliases serve the site; no www. redirect" in _cli("redirect", "www.acme.test")


def test_the_command_line_refuses_a_bad_alias(site):
    with pytest.raises(CommandError, match="not a domain name"):
        _cli("alias", "add", "www.acme.test", "bad name")
    with pytest.raises(CommandError, match="No site"):
        _cli("alias", "add", "nobody.test", "x.test")
    assert not Task.objects.exists()
