"""The argument forms of server.replicate and server.verify-remote (one form each for the panel,
the API and the command line), and the form that records a remote (hosting.offsite)."""
from __future__ import annotations

from typing import Any

from django import forms

from hosting.forms import NodeTaskForm
from hosting.models import BackupRemote


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
