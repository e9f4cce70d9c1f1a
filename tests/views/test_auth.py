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
