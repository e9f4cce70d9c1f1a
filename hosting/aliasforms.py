"""The argument forms of a site's domain tasks (alias-add, alias-remove, redirects): one form each
for the panel, the API and the command line (hosting.catalogue.entries names them).

A name is checked here so that the user hears at once why it cannot be had; the task claims it
again under hosting.sitenames' lock, which is what decides a race."""
from __future__ import annotations

from typing import Any, cast

from django import forms

from hosting import sitenames
from hosting.forms import SiteTaskForm
from hosting.models import Site
from provision.domains import ALIASES_SERVE, normalise_domain, www_counterpart
from provision.errors import InvalidDomain

# An alias list longer than this is a mistake or abuse: every name is a vhost server_name and a
# trusted_host_patterns entry.
MAX_ALIASES = 50


def clean_new_name(value: str, site: Site, viewer: Any) -> str:
    """VALUE as a normalised domain that SITE may take, or a ValidationError saying why not."""
    try:
        name = normalise_domain(value)
    except InvalidDomain as exc:
        raise forms.ValidationError(str(exc)) from None
    if name == site.domain:
        raise forms.ValidationError(f"{name} is the site's own domain.")
    if name in site.aliases:
        raise forms.ValidationError(f"{name} is an alias of this site already.")
    reason = sitenames.refusal([name], viewer, exclude=site.pk)
    if reason:
        raise forms.ValidationError(reason)
    return name


class AliasAddForm(SiteTaskForm):
    alias = forms.CharField(label="Alias domain", max_length=253,
                            help_text="Another name the site answers to (it serves the site or redirects to "
                                      "its domain, as the site's redirect setting says).")

    def clean_alias(self) -> str:
        if len(self.site.aliases) >= MAX_ALIASES:
            raise forms.ValidationError(f"The site has {MAX_ALIASES} aliases: remove one first.")
        return clean_new_name(self.cleaned_data["alias"], self.site, self.viewer)

    def task_args(self) -> dict[str, Any]:
        return {"alias": self.cleaned_data["alias"]}


class AliasRemoveForm(SiteTaskForm):
    alias = forms.ChoiceField(label="Alias to remove", choices=[])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["alias"]).choices = [(a, a) for a in self.site.aliases]

    def clean_alias(self) -> str:
        value = self.cleaned_data["alias"]
        if value not in self.site.aliases:  # the choices say so too; kept for a clear message
            raise forms.ValidationError(f"{value} is not an alias of {self.site.domain}.")
        return value

    def task_args(self) -> dict[str, Any]:
        return {"alias": self.cleaned_data["alias"]}


class RedirectsForm(SiteTaskForm):
    alias_mode = forms.ChoiceField(label="Aliases", choices=Site.ALIAS_MODES)
    www_redirect = forms.ChoiceField(label="www.", choices=Site.WWW_MODES, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["alias_mode"].initial = self.site.alias_mode or ALIASES_SERVE
        self.fields["www_redirect"].initial = self.site.www_redirect
        domain = self.site.domain
        bare = domain[4:] if domain.startswith("www.") else domain
        cast(forms.ChoiceField, self.fields["www_redirect"]).choices = [
            ("", "No www. redirect"), ("to-bare", f"www.{bare} redirects to {bare}"),
            ("to-www", f"{bare} redirects to www.{bare}")]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        mode = data.get("www_redirect") or ""
        try:
            www = www_counterpart(self.site.domain, mode)
        except InvalidDomain as exc:
            self.add_error("www_redirect", str(exc))
            return data
        if www and www not in self.site.aliases:
            reason = sitenames.refusal([www], self.viewer, exclude=self.site.pk)
            if reason:
                self.add_error("www_redirect", reason)
        if (data.get("alias_mode"), mode) == (self.site.alias_mode, self.site.www_redirect):
            raise forms.ValidationError("Nothing changes: these are the site's redirects already.")
        return data

    def task_args(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"alias_mode": data["alias_mode"], "www_redirect": data.get("www_redirect") or ""}
