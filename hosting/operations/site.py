"""Site task types, one module each; importing this module registers them all
(hosting.operations._load imports it).

site.install (site_install), site.verify (site_verify), site.backup and site.restore
(site_backup), site.clone (site_clone), site.migrate (site_migrate), site.disable, site.enable
and site.login-reset (site_state), site.delete (site_delete)."""
from __future__ import annotations

from hosting.operations import (  # noqa: F401
    site_backup,
    site_clone,
    site_delete,
    site_install,
    site_migrate,
    site_state,
    site_verify,
)
