"""No web server on this host (DESIGN §7, the embedded default): vhosts are written exactly as
for nginx, so verify can check them and a later switch to nginx finds them, but nothing is
tested or reloaded."""
from __future__ import annotations

from provision.web.nginx import NginxServer


class NoWebServer(NginxServer):
    kind = "none"
    label = "None (vhosts written, not loaded)"
    rank = 0

    def test(self) -> None:
        return None

    def reload(self) -> None:
        return None
