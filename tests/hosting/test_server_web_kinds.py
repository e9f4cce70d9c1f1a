"""A Server's web server kind, from the record to the driver: apache is accepted by the API and
the model, its addresses are checked when the record is saved, and tasks get the Apache driver."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from hosting.models import Server
from provision.runner import Runner
from tests.tenancy.conftest import api_client


def test_the_api_creates_an_apache_server_and_refuses_an_unknown_kind(admin_user) -> None:
    api = api_client(admin_user)
    response = api.post("/api/v1/servers", {"name": "web1", "http": "apache"}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["http"] == "apache" and Server.objects.get(name="web1").http == "apache"
    response = api.post("/api/v1/servers", {"name": "web2", "http": "lighttpd"}, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "bad_input"
    assert "apache" in response.json()["message"] and not Server.objects.filter(name="web2").exists()
    schema = api.get("/api/v1/openapi.json").json()
    assert schema["components"]["schemas"]["ServerIn"]["properties"]["http"]["enum"] == ["none", "nginx", "apache"]


@pytest.mark.django_db
@pytest.mark.parametrize("listen", ["443 ssl", "80, 8080 default_server"])
def test_an_apache_server_refuses_nginx_listen_parameters(listen: str) -> None:
    server = Server(name="web1", queue="web1", http="apache", web_listen=listen)
    with pytest.raises(ValidationError) as caught:
        server.full_clean()
    assert "VirtualHost" in " ".join(caught.value.message_dict["web_listen"])
    Server(name="web1", queue="web1", http="nginx", web_listen=listen).full_clean()  # nginx takes them


@pytest.mark.django_db
def test_tasks_drive_an_apache_server_with_the_apache_driver(hm_dirs) -> None:
    from hosting.operations import resources
    from provision.web.apache import ApacheServer

    server = Server.objects.create(name="web1", queue="web1", http="apache", web_listen="80, 127.0.0.1:8080",
                                   web_main_config="/srv/apache/apache2.conf", web_prefix="/srv/apache")
    web = resources.web_server(server, Runner(lambda level, line: None))
    assert isinstance(web, ApacheServer) and web.addresses == "*:80 127.0.0.1:8080"
    assert web.config.main_config is not None and str(web.config.main_config) == "/srv/apache/apache2.conf"


def test_a_web_server_is_one_module_of_provision_web(tmp_path, monkeypatch) -> None:
    import sys

    import provision.web as web
    from hosting.operations import resources

    assert web.KINDS == ("none", "nginx", "apache")
    assert Server.HTTP_CHOICES == web.CHOICES and resources.web.KINDS is web.KINDS
    (tmp_path / "lighttpd.py").write_text(
        "from provision.web.nginx import NginxServer\n\n\n"
        "class Lighttpd(NginxServer):\n    kind = 'lighttpd'\n    label = 'lighttpd'\n    rank = 3\n")
    monkeypatch.setattr(web, "__path__", [*web.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "provision.web.lighttpd", raising=False)
    drivers = web._drivers()
    assert list(drivers) == ["none", "nginx", "apache", "lighttpd"]
    assert drivers["lighttpd"].__name__ == "Lighttpd"
    sys.modules.pop("provision.web.lighttpd", None)
