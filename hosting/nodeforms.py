"""The forms that record and change servers and clients and say which clients may use a
platform (administrators only). The panel, the API (POST/PATCH) and the command line validate
with these same forms; hosting.nodeadmin writes what they cleaned."""
from __future__ import annotations

from typing import Any

from django import forms

from hosting.inputs import parse_int
from hosting.models import Client, Platform, Server

SERVER_FIELDS = ["name", "hostname", "queue", "http", "web_conf_dir", "web_listen", "web_tls_listen",
                 "php_fastcgi",
                 "web_main_config", "web_prefix", "db_engine", "db_host", "db_port", "db_admin_user",
                 "db_admin_password", "sqlite_dir", "db_user_host", "max_running_tasks"]
# The queue is the workers' cluster name: changing it on a server would strand the tasks queued
# for the old name and send new ones where no worker listens. A new server gets a new queue.
SERVER_FIXED = ("queue",)
CLIENT_FIELDS = ["name", "title", "max_sites", "max_disk_bytes", "max_running_tasks"]
# Commands and API clients name clients by name; quotas and the title change, the name stays.
CLIENT_FIXED = ("name",)


class ServerForm(forms.ModelForm):
    """A server's record. New: the queue defaults to the name. Edit: the queue stays, and an
    empty database password keeps the stored one (it is never shown)."""

    class Meta:
        model = Server
        fields = SERVER_FIELDS
        widgets = {"db_admin_password": forms.PasswordInput(render_value=False)}
        labels = {
            "http": "Web server", "web_conf_dir": "Vhost directory", "web_listen": "Listen on",
            "web_tls_listen": "Listen on for HTTPS",
            "php_fastcgi": "PHP-FPM address", "web_main_config": "Web server main config",
            "web_prefix": "Web server prefix", "db_engine": "Database server", "db_host": "Database host",
            "db_port": "Database port", "db_admin_user": "Database admin user",
            "db_admin_password": "Database admin password", "sqlite_dir": "SQLite directory",
            "db_user_host": "Site users' host (MariaDB/MySQL)", "max_running_tasks": "Most tasks running at once",
        }
        help_texts = {
            "name": "Lowercase letters, digits and dashes.",
            "web_conf_dir": "Where its vhosts are written (absolute path).",
            "web_listen": "nginx listen values or Apache addresses, comma-separated (e.g. 80).",
            "web_tls_listen": "Where sites with a certificate answer HTTPS, comma-separated (e.g. 443).",
            "db_admin_password": "Stored, never shown. Editing: leave empty to keep the current one.",
            "sqlite_dir": "SQLite: the directory of the sites' databases (absolute path).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["queue"].required = False
        if self.instance.pk:
            for name in SERVER_FIXED:
                self.fields[name].disabled = True
                self.fields[name].help_text = "Fixed: the workers of this server listen on it."
        else:
            self.fields["queue"].help_text = "The worker queue (qcluster name). Empty: the server's name."

    def clean_queue(self) -> str:
        if self.instance.pk:
            return self.instance.queue
        return self.cleaned_data.get("queue") or self.data.get("name", "") or ""

    def clean_db_admin_password(self) -> str:
        value = self.cleaned_data.get("db_admin_password") or ""
        return value or (self.instance.db_admin_password if self.instance.pk else "")


class ClientForm(forms.ModelForm):
    """A client's name (new only), title and quotas; an empty quota means no limit."""

    class Meta:
        model = Client
        fields = CLIENT_FIELDS
        labels = {"max_sites": "Most sites", "max_disk_bytes": "Most disk (bytes)",
                  "max_running_tasks": "Most tasks running at once"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].help_text = "Lowercase letters, digits and dashes; used by the command line and API."
        if self.instance.pk:
            for name in CLIENT_FIXED:
                self.fields[name].disabled = True


class ClientChoices(forms.ModelMultipleChoiceField):
    """Client ids as hosting.inputs reads ids: ASCII digits within range, so that a number past
    the column's range is a form error, not a database error."""

    def clean(self, value: Any) -> Any:
        for pk in value if isinstance(value, (list, tuple)) else []:
            if parse_int(pk) is None:
                raise forms.ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value",
                                            params={"pk": pk})
        return super().clean(value)


class PlatformClientsForm(forms.Form):
    """Which clients may create sites on a platform. None chosen: open to every client."""

    clients = ClientChoices(
        queryset=Client.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every client may use it. Sites already on it stay where they are.")

    def __init__(self, *args: Any, platform: Platform, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"clients": list(platform.clients.values_list("pk", flat=True))})
        super().__init__(*args, **kwargs)
        self.platform = platform


def changed(form: forms.BaseForm, before: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{field: (before, after)} of what FORM's cleaned data changes, for the fields in BEFORE."""
    found = {}
    for name in before:
        if name in form.cleaned_data and form.cleaned_data[name] != before.get(name):
            found[name] = (before.get(name), form.cleaned_data[name])
    return found
