"""The forms of platforms built from Git: a new platform from a repository (panel, API, command
line check the same fields through hosting.platformbuild), the next version of a built one, and
the build task's own argument form (the catalogue's), which has nothing to ask: the record holds
the repository and the ref."""
from __future__ import annotations

from typing import Any, cast

from django import forms

from hosting.forms import NodeTaskForm
from hosting.inventory import InventoryError
from hosting.models import Server
from hosting.platformbuild import check_secret, check_source, secrets_dir
from provision import gitrepo

NAME_HELP = "Lowercase letters, digits and dashes. Empty: named after the repository and the ref."
REF_HELP = "A branch, a tag or a full commit id."


class BuildTaskForm(NodeTaskForm):
    def task_args(self) -> dict[str, Any]:
        # Shown on the task's page and used to find a build already queued for a ref.
        return {"repository": self.target.repository, "ref": self.target.git_ref}


class GitPlatformForm(forms.Form):
    repository = forms.CharField(max_length=1000, help_text="https://…, ssh://…, git@host:path, file:///… or an "
                                                            "absolute path on the server.")
    ref = forms.CharField(max_length=200, label="Branch, tag or commit", help_text=REF_HELP)
    name = forms.CharField(max_length=63, required=False, help_text=NAME_HELP)
    secret = forms.ChoiceField(required=False, label="Secret", help_text=(
        "A token (HTTPS) or deploy key (SSH) kept as a file in the Git secrets directory; its name only is "
        "recorded."))
    server = forms.ModelChoiceField(queryset=Server.objects.order_by("name"), required=False,
                                    empty_label="This host's server")
    webhook = forms.BooleanField(required=False, label="Incoming webhook",
                                 help_text="A secret for a signed push webhook that builds the next version.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = gitrepo.list_secrets(secrets_dir())
        cast(forms.ChoiceField, self.fields["secret"]).choices = [("", "None (public or local repository)")] + [
            (n, n) for n in names]

    def clean_repository(self) -> str:
        try:
            return check_source(self.cleaned_data["repository"], "HEAD")[0]
        except InventoryError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_ref(self) -> str:
        return _checked_ref(self.cleaned_data["ref"])

    def clean_secret(self) -> str:
        try:
            return check_secret(self.cleaned_data.get("secret") or "")
        except InventoryError as exc:
            raise forms.ValidationError(str(exc)) from None


def _checked_ref(ref: str) -> str:
    try:
        return gitrepo.check_ref(ref)
    except gitrepo.ProvisionError as exc:
        raise forms.ValidationError(str(exc)) from None


class NextBuildForm(forms.Form):
    ref = forms.CharField(max_length=200, label="Branch, tag or commit", help_text=REF_HELP)
    name = forms.CharField(max_length=63, required=False, help_text=NAME_HELP)

    def clean_ref(self) -> str:
        return _checked_ref(self.cleaned_data["ref"])
