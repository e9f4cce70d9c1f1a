"""The Sync task's argument form (hosting.catalogue entry site.sync): the source among the
client's other installed sites on the target's server, and what to copy. The choices come from
hosting.access, so another client's site is not a choice: naming one fails exactly as naming a
site that does not exist."""
from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import Q, QuerySet

from hosting import access
from hosting.forms import SiteTaskForm
from hosting.models import Site

WHAT = [("both", "The database and the files"), ("database", "The database only"), ("files", "The files only")]


class SourceChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Site) -> str:
        return obj.domain


def same_client(site: Site) -> Q:
    """The sites of SITE's client (of no client: the provider's own, for a site of none)."""
    return Q(client_id=site.client_id) if site.client_id is not None else Q(client__isnull=True)


def sync_sources(viewer: Any, target: Site) -> QuerySet[Site]:
    """The sites VIEWER may see that TARGET may be synced from: the same client, the same server,
    installed, not TARGET itself. Sites of no client (the provider's own) sync among themselves."""
    return (access.sites(viewer)
            .filter(same_client(target), platform__server_id=target.platform.server_id,
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
        field = cast(SourceChoice, self.fields["source"])
        # Any site of the client the viewer sees is accepted here, so that naming this site, one
        # on another server or one not installed gets its own reason (clean_source); the list
        # offers only those that can be chosen. Another client's site is not accepted at all.
        field.queryset = (access.sites(self.viewer).filter(same_client(self.site))
                          .select_related("platform"))
        field.widget.choices = [(s.pk, s.domain) for s in sync_sources(self.viewer, self.site)]

    def clean_source(self) -> Site:
        from hosting.operations.site_sync import source_refusal

        source = self.cleaned_data["source"]
        reason = source_refusal(self.site, source)
        if reason:
            raise forms.ValidationError(reason)
        return source

    def task_args(self) -> dict[str, Any]:
        what = self.cleaned_data["what"]
        return {"source": self.cleaned_data["source"].pk, "database": what in ("both", "database"),
                "files": what in ("both", "files")}
