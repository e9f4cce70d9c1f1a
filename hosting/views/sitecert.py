"""A site's own certificate, uploaded from its HTTPS page (hosting.certupload): a PEM chain and a
PEM key, as files or pasted. Whoever may start the site's https task may upload; another
client's site is a 404. The PEM is never shown back: a refused upload shows the form empty with
the reason."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from hosting import access
from hosting.certupload import MAX_BYTES, UploadRefused, start_upload
from hosting.models import Site
from hosting.refused import TaskRefused
from hosting.starting import ArgumentsInvalid
from hosting.views.common import AuthenticatedHttpRequest, client_address
from hosting.views.queueing import queued_response


class UploadForm(forms.Form):
    certificate_file = forms.FileField(required=False, label="Certificate chain (PEM file)",
                                       help_text="The site's certificate first, then each issuer in turn.")
    certificate = forms.CharField(required=False, label="…or paste the chain", widget=forms.Textarea(
        attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}))
    key_file = forms.FileField(required=False, label="Private key (PEM file)",
                               help_text="Without a passphrase. It is stored readable by the web server only.")
    key = forms.CharField(required=False, label="…or paste the key", widget=forms.Textarea(
        attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}))
    mode = forms.ChoiceField(choices=[c for c in Site.HTTPS_MODES if c[0] != Site.HTTPS_OFF], label="HTTPS")
    hsts = forms.BooleanField(required=False, label="HSTS")

    def _pem(self, file_field: str, text_field: str, what: str) -> bytes:
        upload = self.cleaned_data.get(file_field)
        if upload is not None:
            if upload.size > MAX_BYTES:
                raise forms.ValidationError(f"The {what} is too large: at most {MAX_BYTES // 1024} KiB.")
            return upload.read(MAX_BYTES + 1)
        text = (self.cleaned_data.get(text_field) or "").strip()
        if not text:
            raise forms.ValidationError(f"Give the {what}: a file or the pasted PEM.")
        if len(text) > MAX_BYTES:
            raise forms.ValidationError(f"The {what} is too large: at most {MAX_BYTES // 1024} KiB.")
        return text.encode()

    def pems(self) -> tuple[bytes, bytes]:
        return self._pem("certificate_file", "certificate", "certificate chain"), self._pem("key_file", "key", "key")


def _without_pem(request: AuthenticatedHttpRequest) -> UploadForm:
    """The form again with the mode and HSTS chosen, never the PEM (the key is not echoed back)."""
    data = request.POST.copy()
    for name in ("certificate", "key"):
        data.pop(name, None)
    form = UploadForm(data)
    form.is_valid()
    return form


@login_required
def site_https_upload(request: AuthenticatedHttpRequest, site_id: int) -> HttpResponse:
    site = access.site_for_action(request.user, site_id, "https")  # another client's: 404
    status = 200
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                chain, key = form.pems()
                task = start_upload(request.user, site, chain, key, mode=form.cleaned_data["mode"],
                                    hsts=bool(form.cleaned_data.get("hsts")), address=client_address(request))
                return queued_response(request, task)
            except (forms.ValidationError, UploadRefused, TaskRefused, ArgumentsInvalid) as exc:
                message: Any = exc.messages if isinstance(exc, forms.ValidationError) else str(exc)
                form = _without_pem(request)
                form.add_error(None, message)
                status = 400
        else:
            errors = form.errors.copy()
            form = _without_pem(request)
            for field, problems in errors.items():
                for problem in problems:
                    form.add_error(None if field == "__all__" else field, problem)
            status = 400
    else:
        form = UploadForm(initial={"mode": site.https_mode if site.https_mode != Site.HTTPS_OFF else Site.HTTPS_ON,
                                   "hsts": site.https_hsts})
    return render(request, "sites/https_upload.html", {"site": site, "form": form}, status=status)
