"""The arguments of a batch migrate (platform.migrate-sites): the target platform and the
batch's own failure limit."""
from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings

from hosting.forms import NodeTaskForm, PlatformChoice
from hosting.models import Platform


def batch_targets(source: Platform) -> Any:
    """Enabled platforms of SOURCE's server other than SOURCE (a migrate stays on one server)."""
    return (Platform.objects.filter(server_id=source.server_id, status=Platform.ENABLED)
            .exclude(pk=source.pk).select_related("server").order_by("name"))


class MigrateSitesForm(NodeTaskForm):
    target = PlatformChoice(queryset=Platform.objects.none(), label="Target platform", empty_label=None,
                            help_text="Enabled platforms on the same server.")
    max_failures = forms.IntegerField(
        required=False, min_value=1, max_value=100000, label="Stop after this many failures",
        help_text="Empty: the setting HARBORMASTER_BATCH_MAX_FAILURES.")

    def __init__(self, *args: Any, target: Platform, **kwargs: Any) -> None:
        super().__init__(*args, target=target, **kwargs)
        self.source = target  # the field "target" is the platform the sites go to
        choice = cast(PlatformChoice, self.fields["target"])
        choice.queryset = batch_targets(target)
        choice.internals = True
        cast(forms.IntegerField, self.fields["max_failures"]).widget.attrs["placeholder"] = str(
            settings.HARBORMASTER_BATCH_MAX_FAILURES)

    def task_args(self) -> dict[str, Any]:
        return {"target": self.cleaned_data["target"].pk, "max_failures": self.cleaned_data.get("max_failures")}
