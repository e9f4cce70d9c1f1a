"""The cast of the interface attacks (tests/security/test_controls*, test_login*, ...): the
tenancy suite's two clients with a manager, member and viewer of acme and globex's member, on
the panel's own platform and sites. Imported by each test module, so that these fixtures take
the place of tests/operations' (whose platform is parametrized over three database engines)."""
from __future__ import annotations

from tests.tenancy.conftest import *  # noqa: F401,F403 - manager, viewer, api_as, world, ...
from tests.views.conftest import *  # noqa: F401,F403 - platform, site, site_task, as_admin, ...
