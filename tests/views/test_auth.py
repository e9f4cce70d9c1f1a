from django.urls import reverse


def test_it_logs_in_and_out(client, member):
    response = client.post(reverse("login"), {"username": "member", "password": "member-pass-1"})
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302


def test_it_says_what_is_wrong_with_a_bad_login(client, member):
    response = client.post(reverse("login"), {"username": "member", "password": "wrong"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content


def test_every_page_names_an_icon_that_exists(client):
    # Without one, browsers ask for /favicon.ico on every first visit and log a 404.
    import re

    from django.contrib.staticfiles import finders

    page = client.get(reverse("login")).content.decode()
    icon = re.search(r'<link rel="icon" href="/static/([^"]+)"', page)
    assert icon, page[:500]
    assert finders.find(icon.group(1))
