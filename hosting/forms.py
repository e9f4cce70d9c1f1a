"""The panel's forms: task arguments (clone, migrate, restore), confirmations, list filters.

Every choice offered comes from a queryset of hosting.access, so a form cannot name an object
the user may not see; errors are shown next to their field.

A task type's argument form (named by its hosting.catalogue entry) is the one the panel, the API
and the command line validate with: built as `Form(data, target=node, viewer=actor)`, it returns
the task's arguments from task_args()."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.db.models import F, QuerySet
from django.utils import timezone

from hosting import access
from hosting.catalogue import TYPES
from hosting.catalogue.situation import new_site_platforms
from hosting.inputs import MAX_SEARCH, IdField
from hosting.inventory import InventoryError, check_domain_free, platform_refusal
from hosting.models import Backup, Platform, Site, Task
from hosting.packages import migrate_refusal
from hosting.widgets import FastSelect


class PlatformChoice(forms.ModelChoiceField):
    """A platform as the reader knows it: "Drupal 10.3.1 (d10)"; administrators also read the
    server it is on (its form sets `internals`)."""

    internals = False

    def label_from_instance(self, obj: Platform) -> str:
        return f"{obj.choice_label} on {obj.server.name}" if self.internals else obj.choice_label


class BackupChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Backup) -> str:
        from django.template.defaultfilters import filesizeformat

        # Seconds and the id: two backups made in the same minute must be told apart.
        return (f"#{obj.pk} · {timezone.localtime(obj.created_at):%Y-%m-%d %H:%M:%S} · {obj.get_kind_display()} · "
                f"{filesizeformat(obj.size)}")


class NodeTaskForm(forms.Form):
    """A task without arguments (the button is the confirmation). Subclasses add their
    arguments and return them from task_args(); VIEWER is whom the choices are offered to."""

    def __init__(self, *args: Any, target: Any, viewer: Any = None, **kwargs: Any) -> None:
        self.target = target
        self.viewer = viewer
        super().__init__(*args, **kwargs)

    def task_args(self) -> dict[str, Any]:
        return {}


class SiteTaskForm(NodeTaskForm):
    def __init__(self, *args: Any, target: Site, viewer: Any = None, **kwargs: Any) -> None:
        self.site = target
        super().__init__(*args, target=target, viewer=viewer, **kwargs)


class VerifyForm(SiteTaskForm):
    repair_settings = forms.BooleanField(
        required=False, label="Rewrite settings.php from the record",
        help_text="When settings.php names another database than the one the site's record owns, write it "
                  "again from the record (a new database password for the site's own user).")

    packages = forms.BooleanField(
        required=False, label="List the enabled modules",
        help_text="drush pm:list: the modules and themes the site uses, which a migrate compares with its "
                  "target platform's.")

    def task_args(self) -> dict[str, Any]:
        found: dict[str, Any] = {"repair_settings": True} if self.cleaned_data.get("repair_settings") else {}
        if self.cleaned_data.get("packages"):
            found["packages"] = True
        return found


class ResolveDuplicateForm(forms.Form):
    """Which of the two platforms holding a copy of a site holds the site."""

    platform = forms.ModelChoiceField(queryset=Platform.objects.none(), empty_label=None)

    def __init__(self, *args: Any, site: Site, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["platform"]).queryset = Platform.objects.filter(
            pk__in=[site.platform_id, site.attention_platform_id])


class AdoptDatabaseForm(forms.Form):
    """The database an administrator adopts for a site: the one its settings.php names."""

    database = forms.CharField(max_length=255)


class HttpsForm(SiteTaskForm):
    """site.https: the mode to put in place (hosting.operations.site_https)."""

    mode = forms.ChoiceField(choices=Site.HTTPS_MODES, label="HTTPS",
                             help_text="On: HTTP and HTTPS both serve. Required: HTTP redirects to HTTPS.")
    hsts = forms.BooleanField(required=False, label="HSTS",
                              help_text="Browsers are told to use HTTPS only for a year (Strict-Transport-Security).")
    renew = forms.BooleanField(required=False, label="New certificate now",
                               help_text="Even when the current one is good for more than 30 days.")
    # The reference of a checked, staged upload (hosting.certupload); never the PEM itself.
    upload = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mode"].initial = self.site.https_mode
        self.fields["hsts"].initial = self.site.https_hsts

    def clean(self) -> dict[str, Any]:
        from provision.uploaded import valid_token

        data = super().clean() or {}
        upload = data.get("upload") or ""
        if upload and not valid_token(upload, self.site.pk):
            raise forms.ValidationError("The uploaded certificate is not this site's.")
        if upload and data.get("mode") == Site.HTTPS_OFF:
            raise forms.ValidationError("An uploaded certificate needs HTTPS on or required.")
        return data

    def task_args(self) -> dict[str, Any]:
        data = self.cleaned_data
        args = {"mode": data["mode"], "hsts": bool(data.get("hsts")), "renew": bool(data.get("renew"))}
        if data.get("upload"):
            args["upload"] = data["upload"]
        return args


class CloneForm(SiteTaskForm):
    domain = forms.CharField(label="New domain", max_length=253,
                             help_text="The clone gets its own database and files under this domain.")
    platform = PlatformChoice(queryset=Platform.objects.none(), label="Target platform", empty_label=None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        platforms = new_site_platforms(self.viewer, self.site.client)
        choice = cast(PlatformChoice, self.fields["platform"])
        choice.queryset = platforms.select_related("server")
        choice.internals = access.is_admin(self.viewer)
        self.fields["platform"].initial = self.site.platform_id

    def clean_domain(self) -> str:
        try:
            return check_domain_free(self.cleaned_data["domain"])
        except InventoryError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_platform(self) -> Platform:
        platform = self.cleaned_data["platform"]
        reason = platform_refusal(platform, self.site.client)
        if reason:
            raise forms.ValidationError(reason)
        return platform

    def task_args(self) -> dict[str, Any]:
        return {"domain": self.cleaned_data["domain"], "platform": self.cleaned_data["platform"].pk}


class MigrateForm(SiteTaskForm):
    platform = PlatformChoice(queryset=Platform.objects.none(), label="Target platform", empty_label=None,
                              help_text="The platforms open to this site's client.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        platforms = new_site_platforms(self.viewer, self.site.client, exclude=self.site.platform)
        choice = cast(PlatformChoice, self.fields["platform"])
        choice.queryset = platforms.select_related("server")
        choice.internals = access.is_admin(self.viewer)

    def clean_platform(self) -> Platform:
        platform = self.cleaned_data["platform"]
        if platform.pk == self.site.platform_id:
            raise forms.ValidationError("The site is on this platform already.")
        reason = platform_refusal(platform, self.site.client) or migrate_refusal(self.site, platform)
        if reason:
            raise forms.ValidationError(reason)
        return platform

    def task_args(self) -> dict[str, Any]:
        return {"platform": self.cleaned_data["platform"].pk}


class RestoreForm(SiteTaskForm):
    backup = BackupChoice(queryset=Backup.objects.none(), label="Backup", empty_label=None,
                          help_text="This site's backups, newest first.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        backups = access.backups(self.viewer).filter(site=self.site)
        cast(forms.ModelChoiceField, self.fields["backup"]).queryset = backups

    def task_args(self) -> dict[str, Any]:
        return {"backup": self.cleaned_data["backup"].pk}


class RestoreDeletedForm(RestoreForm):
    """A deleted site's backups; the newest pre-delete one is offered first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ModelChoiceField, self.fields["backup"])
        field.help_text = "The site is created again on its platform from this backup."
        if "backup" not in self.initial:
            choices = cast(QuerySet[Backup], field.queryset)
            first = choices.filter(kind=Backup.PRE_DELETE).order_by("-created_at", "-pk").first()
            if first is not None:
                self.initial["backup"] = first.pk


class TypeNameForm(forms.Form):
    """Confirm a destructive step by typing the object's name, so that a slip of the mouse on the
    wrong tab cannot delete anything."""

    confirm = forms.CharField(label="Type the name to confirm", max_length=300)

    def __init__(self, *args: Any, expected: str, **kwargs: Any) -> None:
        self.expected = expected
        super().__init__(*args, **kwargs)
        self.fields["confirm"].help_text = f"Type {expected} to confirm."

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip()
        if value != self.expected:
            raise forms.ValidationError(f"This is not {self.expected}.")
        return value


class SiteDeleteTaskForm(TypeNameForm, SiteTaskForm):
    def __init__(self, *args: Any, target: Site, viewer: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, expected=target.domain, target=target, viewer=viewer, **kwargs)


class NodeDeleteTaskForm(TypeNameForm, NodeTaskForm):
    """A platform's delete: its name typed."""

    def __init__(self, *args: Any, target: Any, viewer: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, expected=target.name, target=target, viewer=viewer, **kwargs)


class PlatformRecordDeleteForm(TypeNameForm):
    with_sites = forms.BooleanField(
        required=False, label="Also delete the records of the sites on it",
        help_text="Their files and databases stay on disk too; verifying a platform at this path "
                  "again rediscovers them.")


class ForceUnlockForm(forms.Form):
    dead = forms.BooleanField(label="I have checked that the task holding this lock is dead.")


STATE_CHOICES = [("", "any state"), *Task.STATES]
# Each type by its label (the first target's: "Login link", not "login-reset"), A to Z.
_KIND_LABELS: dict[str, str] = {}
for _type in TYPES.values():
    _KIND_LABELS.setdefault(_type.kind, _type.label)
KIND_CHOICES = [("", "any type"), *sorted(_KIND_LABELS.items(), key=lambda item: item[1])]


TARGETS_LOOKED_UP = 500


def target_filter(tasks: QuerySet[Task], text: str) -> QuerySet[Task]:
    """Tasks whose target's domain or name contains TEXT. The matching nodes are looked up
    first (10,000 sites are quick to search) and their tasks taken through the per-node
    indexes; searching the text of 200,000 task rows instead took 50 ms. Node ids are looked
    up unscoped but only narrow TASKS, which hosting.access has scoped already. A text matching
    too many nodes to list falls back to searching the tasks' own labels."""
    from django.db.models import Q

    from hosting.models import Server

    text = text.strip().lower()
    found = [list(model.objects.filter(**{f"{field}__icontains": text}).values_list("pk", flat=True)
                  [:TARGETS_LOOKED_UP + 1])
             for model, field in ((Site, "domain"), (Platform, "name"), (Server, "name"))]
    if any(len(ids) > TARGETS_LOOKED_UP for ids in found):
        return tasks.filter(target_label__icontains=text)
    sites, platforms, servers = found
    return tasks.filter(Q(target_type="site", site_id__in=sites) | Q(target_type="platform", platform_id__in=platforms)
                        | Q(target_type="server", server_id__in=servers))


class TaskFilterForm(forms.Form):
    """The task list's filters; the same cleaned values drive the CSV export."""

    state = forms.ChoiceField(choices=STATE_CHOICES, required=False, widget=FastSelect)
    kind = forms.ChoiceField(choices=KIND_CHOICES, required=False, label="Type", widget=FastSelect)
    target = forms.CharField(required=False, max_length=MAX_SEARCH, label="Target",
                             widget=forms.TextInput(attrs={"placeholder": "domain or name", "type": "search"}))
    client = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Client", widget=FastSelect)
    user = forms.CharField(required=False, max_length=150, label="User",
                           widget=forms.TextInput(attrs={"placeholder": "username"}))
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    site = IdField(required=False, widget=forms.HiddenInput)
    platform = IdField(required=False, widget=forms.HiddenInput)
    server = IdField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, clients: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["client"]).choices = [("", "any client"), *clients]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        return data

    def apply(self, tasks: QuerySet[Task]) -> QuerySet[Task]:
        """Filter TASKS (already scoped by hosting.access) by the valid fields."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if data.get("state"):
            tasks = tasks.filter(state=data["state"])
        if data.get("kind"):
            tasks = tasks.filter(kind=data["kind"])
        if data.get("target"):
            tasks = target_filter(tasks, data["target"])
        if data.get("client"):
            tasks = tasks.filter(client_id=data["client"])
        if data.get("user"):
            tasks = tasks.filter(created_by__username=data["user"].strip())
        for field in ("site", "platform"):
            if data.get(field):
                tasks = tasks.filter(**{f"{field}_id": data[field]})
        if data.get("server"):
            # See hosting.views.servers.latest_on_server: lets the database walk created_at.
            tasks = tasks.annotate(on_server=F("server_id") + 0).filter(on_server=data["server"])
        zone = timezone.get_current_timezone()
        if data.get("since"):
            tasks = tasks.filter(created_at__gte=datetime.combine(data["since"], time.min, zone))
        if data.get("until"):
            tasks = tasks.filter(created_at__lt=datetime.combine(data["until"] + timedelta(days=1), time.min, zone))
        return tasks


class DrushForm(SiteTaskForm):
    """site.drush: a drush command line, split into an argument list (hosting.drushcommands)."""

    command = forms.CharField(label="drush command", max_length=1000,
                              help_text="For example: watchdog:show --count=20. Clients may run the commands "
                                        "their administrator allows.")

    def clean_command(self) -> list[str]:
        from hosting import access, drushcommands
        from hosting.actor import is_operator

        try:
            argv = drushcommands.split(self.cleaned_data["command"])
        except drushcommands.Refused as exc:
            raise forms.ValidationError(str(exc)) from None
        admin = is_operator(self.viewer) or access.is_admin(self.viewer)
        if not admin and not drushcommands.allowed(argv[0]):
            raise forms.ValidationError(f"drush {argv[0]} is not among the commands your administrator allows.")
        return argv

    def task_args(self) -> dict[str, Any]:
        # The line too, so that a retry is checked again against the retrying user's rights.
        import shlex

        argv = self.cleaned_data["command"]
        return {"command": shlex.join(argv), "argv": argv}
