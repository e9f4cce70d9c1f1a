"""The panel's forms that create nodes: a new site and a new platform. They offer only what the
user may choose (platforms open to the clients they act for, those clients, the profiles the
platform's verify found) and check the input; hosting.inventory records the node and queues its
first task, the same function the API and the command line call."""
from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import Q, QuerySet

from hosting import access
from hosting.forms import PlatformChoice
from hosting.inventory import InventoryError, check_domain_free, platform_refusal, profile_refusal
from hosting.models import Client, Platform, Server

DEFAULT_PROFILE = "standard"


def offered_platforms(user: Any) -> QuerySet[Platform]:
    """Enabled platforms USER sees on which one of the clients USER acts for (administrators: any
    client) may get a site: inventory.platform_refusal's rule, as one query."""
    qs = access.platforms(user).filter(status=Platform.ENABLED)
    if not access.is_admin(user):
        acting = access.client_ids(user, access.ACTING_ROLES)
        qs = qs.filter(Q(clients__isnull=True) | Q(clients__in=acting))
    return qs.select_related("server").order_by("name").distinct()


def offered_clients(user: Any) -> QuerySet[Client]:
    """The clients USER may create sites for: every client for administrators, else those USER
    is a manager or member of (a viewer's are not offered)."""
    if access.is_admin(user):
        return Client.objects.order_by("name")
    return Client.objects.filter(pk__in=access.client_ids(user, access.ACTING_ROLES)).order_by("name")


def may_create_sites(user: Any) -> bool:
    """Does USER get a "New site" link: an administrator, or a client's manager or member."""
    return access.is_admin(user) or bool(access.client_ids(user, access.ACTING_ROLES))


class NewSiteForm(forms.Form):
    domain = forms.CharField(max_length=253, help_text="The site's main domain, e.g. www.example.com.")
    platform = PlatformChoice(queryset=Platform.objects.none(), empty_label=None,
                              help_text="The Drupal codebase the site runs on.")
    profile = forms.ChoiceField(label="Install profile", choices=[])
    client = forms.ModelChoiceField(queryset=Client.objects.none(), empty_label=None)

    def __init__(self, *args: Any, user: Any, platform: Platform | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        platforms = offered_platforms(user)
        choice = cast(PlatformChoice, self.fields["platform"])
        choice.queryset = platforms
        choice.internals = access.is_admin(user)
        # Opened from a platform's page: that platform first, and only its profiles.
        shown = [platform] if platform is not None else list(platforms)
        profiles = sorted({p for pl in shown for p in pl.profiles}) or [DEFAULT_PROFILE]
        cast(forms.ChoiceField, self.fields["profile"]).choices = [(p, p) for p in profiles]
        self.fields["profile"].initial = DEFAULT_PROFILE if DEFAULT_PROFILE in profiles else profiles[0]
        if platform is not None:
            self.fields["platform"].initial = platform.pk
        client = cast(forms.ModelChoiceField, self.fields["client"])
        client.queryset = offered_clients(user)
        if access.is_admin(user):
            client.required = False
            client.empty_label = "No client (administrators' own site)"
        else:
            client.help_text = "The site counts against this client's quota."

    def clean_domain(self) -> str:
        try:
            return check_domain_free(self.cleaned_data["domain"])
        except InventoryError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        platform = data.get("platform")
        if platform is not None and "client" in data:
            reason = platform_refusal(platform, data.get("client"))
            if reason:
                self.add_error("platform", reason)
            elif data.get("profile") and (reason := profile_refusal(platform, data["profile"])):
                self.add_error("profile", reason)
        return data


class NewPlatformForm(forms.Form):
    name = forms.CharField(max_length=63, help_text="Lowercase letters, digits and dashes, e.g. d10-prod.")
    path = forms.CharField(max_length=1024, label="Path on the server",
                           help_text="The codebase's root directory (composer projects: the project root, "
                                     "not web/). Its verify detects the docroot, Drupal version and profiles.")
    server = forms.ModelChoiceField(queryset=Server.objects.order_by("name"), required=False,
                                    empty_label="This host's server")
