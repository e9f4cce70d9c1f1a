"""The Sync task's argument form (hosting.catalogue entry site.sync): the source among the
client's other installed sites on the target's server, and what to copy. The choices come from
hosting.access, so another client's site is not a choice: naming one fails exactly as naming a
site that does not exist."""
from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import QuerySet

from hosting import access
from hosting.forms import SiteTaskForm
from hosting.models import Site

WHAT = [("both", "The database and the files"), ("database", "The database only"), ("files", "The files only")]


class SourceChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Site) -> str:
        return obj.domain


def sync_sources(viewer: Any, target: Site) -> QuerySet[Site]:
    """The sites VIEWER may see that TARGET may be synced from: the same client, the same server,
    installed, not TARGET itself."""
    if target.client_id is None:
        return Site.objects.none()
    return (access.sites(viewer)
            .filter(client_id=target.client_id, platform__server_id=target.platform.server_id,
                    status__in=(Site.ENABLED, Site.DISABLED))
            .exclude(pk=target.pk).order_by("domain"))


class SyncForm(SiteTaskForm):
    source = SourceChoice(queryset=Site.objects.none(), label="Copy from", empty_label=None,
                          help_text="Another site of the same client on the same server.",
                          error_messages={"invalid_choice": "There is no such site among this client's sites."})
    what = forms.ChoiceField(choices=WHAT, initial="both", label="What to copy", widget=forms.RadioSelect,
                             help_text="The database is loaded into this site's own database (its settings.php is "
                                       "kept); the files are sites/<domain>/files, links in it left out.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(SourceChoice, self.fields["source"]).queryset = sync_sources(self.viewer, self.site)

    def task_args(self) -> dict[str, Any]:
        what = self.cleaned_data["what"]
        return {"source": self.cleaned_data["source"].pk, "database": what in ("both", "database"),
                "files": what in ("both", "files")}
