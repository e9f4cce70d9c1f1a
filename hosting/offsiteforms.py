"""The argument forms of server.replicate and server.verify-remote (one form each for the panel,
the API and the command line), and the form that records a remote (hosting.offsite)."""
from __future__ import annotations

from typing import Any

from django import forms

from hosting.forms import NodeTaskForm
from hosting.models import BackupRemote, Client, Server


def _remote_choices(server: Any, *, blank: str | None) -> list[tuple[str, str]]:
    names = list(BackupRemote.objects.filter(server=server).order_by("name").values_list("name", flat=True))
    return ([("", blank)] if blank is not None else []) + [(n, n) for n in names]


class ReplicateForm(NodeTaskForm):
    remote = forms.ChoiceField(required=False, label="Remote",
                               help_text="Only this remote (all enabled ones if blank).")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["remote"].choices = _remote_choices(self.target, blank="All remotes")  # type: ignore[attr-defined]

    def task_args(self) -> dict[str, Any]:
        return {"remote": self.cleaned_data["remote"]} if self.cleaned_data.get("remote") else {}


class VerifyRemoteForm(NodeTaskForm):
    remote = forms.ChoiceField(label="Remote")
    backup = forms.IntegerField(required=False, min_value=1, label="Only backup #",
                                help_text="Verify only this backup's copy (every copy if blank).")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["remote"].choices = _remote_choices(self.target, blank=None)  # type: ignore[attr-defined]

    def task_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"remote": self.cleaned_data["remote"]}
        if self.cleaned_data.get("backup"):
            args["backup"] = self.cleaned_data["backup"]
        return args


class RemoteForm(forms.Form):
    """A new remote (hosting.offsite.add_remote checks it again, with provision.offsite's rules).
    Secret fields are never rendered back with their value."""

    name = forms.CharField(max_length=63, help_text="Lower-case letters, digits, '_' or '-'.")
    kind = forms.ChoiceField(choices=BackupRemote.KINDS)
    server = forms.ModelChoiceField(queryset=Server.objects.none(), empty_label=None,
                                    help_text="Whose backups go there.")
    client = forms.ModelChoiceField(queryset=Client.objects.none(), required=False,
                                    empty_label="None: every backup of the server",
                                    help_text="Only this client's backups (its own storage).")
    host = forms.CharField(required=False, label="SFTP host")
    port = forms.CharField(required=False, label="SFTP port", initial="22")
    user = forms.CharField(required=False, label="SFTP user")
    host_key = forms.CharField(required=False, label="SFTP host key",
                               help_text="The server's public host key (ssh-ed25519 AAAA...): checked on every "
                                         "connection. Strongly advised.")
    private_key = forms.CharField(required=False, label="SFTP private key", strip=False,
                                  widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}))
    password = forms.CharField(required=False, label="SFTP password", widget=forms.PasswordInput)
    endpoint = forms.CharField(required=False, label="S3 endpoint",
                               help_text="https://host[:port] of an S3-compatible service (blank: AWS).")
    region = forms.CharField(required=False, label="S3 region", initial="us-east-1")
    bucket = forms.CharField(required=False, label="S3 bucket")
    access_key_id = forms.CharField(required=False, label="S3 access key id", widget=forms.PasswordInput)
    secret_access_key = forms.CharField(required=False, label="S3 secret access key", widget=forms.PasswordInput)
    path = forms.CharField(required=False, help_text="The folder on the remote (absolute for SFTP; a prefix in "
                                                     "the bucket for S3).")

    SECRET_FIELDS = ("private_key", "password", "access_key_id", "secret_access_key")
    OPTION_FIELDS = ("host", "port", "user", "host_key", "endpoint", "region", "bucket", "path")

    def __init__(self, *args: Any, servers: Any, clients: Any, client_required: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["server"].queryset = servers  # type: ignore[attr-defined]
        self.fields["client"].queryset = clients  # type: ignore[attr-defined]
        self.fields["client"].required = client_required

    def values(self) -> tuple[dict[str, str], dict[str, str]]:
        data = self.cleaned_data
        return ({k: data[k] for k in self.OPTION_FIELDS if data.get(k)},
                {k: data[k] for k in self.SECRET_FIELDS if data.get(k)})
