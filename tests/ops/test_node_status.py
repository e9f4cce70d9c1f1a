"""Status changes of platforms and sites are model methods: one UPDATE of the status column,
conditional when asked, refusing a status the model does not have."""
from __future__ import annotations

import pytest

from hosting.models import Platform, Site

pytestmark = pytest.mark.django_db


def test_it_changes_only_the_rows_whose_status_allows_it(make_site, site):
    other = make_site("b.acme.test", status=Site.QUEUED)
    assert Site.set_status([site.pk, other.pk], Site.FAILED, only_from=[Site.QUEUED]) == 1
    assert dict(Site.objects.values_list("pk", "status")) == {site.pk: site.status, other.pk: Site.FAILED}
    assert Platform.set_status(site.platform_id, Platform.ENABLED, unless=[site.platform.status]) == 0


def test_it_marks_the_row_and_the_object(site):
    site.mark(Site.DISABLED)
    assert site.status == Site.DISABLED and Site.objects.get(pk=site.pk).status == Site.DISABLED


def test_it_refuses_a_status_the_model_does_not_have(site):
    with pytest.raises(ValueError, match="Platform has no status 'disabled'"):
        Platform.set_status(site.platform_id, Site.DISABLED)
