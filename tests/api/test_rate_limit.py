from datetime import timedelta

from django.utils import timezone

from hosting.api.auth import take_request
from hosting.models import ApiToken


def test_it_answers_429_past_the_rate_with_retry_after(api_as, member, settings, site):
    settings.HARBORMASTER_API_RATE = (3, 60)
    http = api_as(member)
    assert [http.get("/api/v1/sites").status_code for _ in range(3)] == [200, 200, 200]
    response = http.get("/api/v1/sites")
    assert response.status_code == 429 and response.json()["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1


def test_it_counts_each_token_on_its_own(api_as, member, settings, site):
    settings.HARBORMASTER_API_RATE = (1, 60)
    first, second = api_as(member, name="one"), api_as(member, name="two")
    assert first.get("/api/v1/sites").status_code == 200
    assert first.get("/api/v1/sites").status_code == 429
    assert second.get("/api/v1/sites").status_code == 200


def test_it_slides_the_window(member, settings):
    settings.HARBORMASTER_API_RATE = (10, 60)
    token, _ = ApiToken.issue(member, "ci", "read")
    start = timezone.now().replace(second=0, microsecond=0)
    assert all(take_request(token.pk, start + timedelta(seconds=50)) is None for _ in range(10))
    assert take_request(token.pk, start + timedelta(seconds=55)) is not None
    # 15 s into the next window, 3/4 of the previous window's 10 still count: 7.5, so three
    # more fit (8.5, 9.5 before each) and the fourth does not.
    later = start + timedelta(seconds=75)
    assert [take_request(token.pk, later) is None for _ in range(4)] == [True, True, True, False]
    # Two windows on, nothing of the old count is left.
    assert take_request(token.pk, start + timedelta(seconds=185)) is None
