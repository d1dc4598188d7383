import json

from django import forms
from django.contrib import admin, messages

from audit.admin_mixins import AuditedAdmin
from gateway.errors import ApiError

from .breakers import breaker_reset
from .models import BreakerEvent, ProcessorAccount, ProcessorRoute, ProcessorWebhookEvent
from .selectors import account_breaker_state
from .services import processor_config_changed, processor_credentials_clean, processor_credentials_encrypt


class ProcessorAccountForm(forms.ModelForm):
    # Write-only: never filled from the stored value, so credentials never reach a page.
    credentials = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 80}),
        help_text=(
            'JSON. Stripe: {"secret_key": "sk_...", "webhook_secret": "whsec_..."}; PayPal: '
            '{"client_id": "...", "client_secret": "..."}. Leave empty to keep the stored credentials.'
        ),
    )

    base_url = forms.URLField(required=False, max_length=300, assume_scheme="https")

    class Meta:
        model = ProcessorAccount
        fields = (
            "merchant",
            "processor",
            "display_name",
            "livemode",
            "credentials",
            "base_url",
            "connect_timeout",
            "read_timeout",
            "webhook_id",
            "breaker_fail_max",
            "breaker_reset_timeout",
            "is_active",
        )

    def clean(self):
        cleaned = super().clean()
        raw = cleaned.get("credentials")
        processor = cleaned.get("processor") or self.instance.processor
        if raw:
            try:
                value = json.loads(raw)
                if not isinstance(value, dict):
                    raise ValueError
            except ValueError:
                self.add_error("credentials", "Credentials must be a JSON object.")
                return cleaned
            try:
                cleaned["credentials"] = processor_credentials_clean(processor, value)
            except ApiError as exc:
                self.add_error("credentials", exc.message)
        elif not self.instance.pk and processor and processor != ProcessorAccount.Processor.SANDBOX:
            self.add_error("credentials", "Credentials are required for a new account.")
        return cleaned

    def save(self, commit=True):
        account = super().save(commit=False)
        credentials = self.cleaned_data.get("credentials")
        if credentials:
            account.credentials_encrypted = processor_credentials_encrypt(credentials)
        if commit:
            account.save()
        return account


class ProcessorRouteInline(admin.TabularInline):
    model = ProcessorRoute
    fk_name = "account"
    extra = 0
    fields = ("merchant", "payment_method_type", "currency", "priority")


class ConfigChangedAdmin(AuditedAdmin):
    """Every admin write of an account or route (inline routes included) is seen by every
    process at once: the merchant's cached configuration is invalidated (``processor_config_changed``)."""

    def save_model(self, request, obj, form, change):
        # A route moved to another merchant changes both merchants' configuration.
        before = type(obj).objects.filter(pk=obj.pk).values_list("merchant_id", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        for merchant_id in {obj.merchant_id, before} - {None}:
            processor_config_changed(merchant_id=merchant_id)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        processor_config_changed(merchant_id=obj.merchant_id)

    def delete_queryset(self, request, queryset):
        merchant_ids = set(queryset.values_list("merchant_id", flat=True))
        super().delete_queryset(request, queryset)
        for merchant_id in merchant_ids:
            processor_config_changed(merchant_id=merchant_id)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        processor_config_changed(merchant_id=form.instance.merchant_id)


@admin.register(ProcessorAccount)
class ProcessorAccountAdmin(ConfigChangedAdmin):
    form = ProcessorAccountForm
    list_display = ("id", "display_name", "processor", "merchant", "livemode", "is_active", "breaker")
    list_filter = ("processor", "livemode", "is_active")
    search_fields = ("id", "display_name", "merchant__id", "merchant__name")
    readonly_fields = ("breaker", "created", "updated")
    actions = ["reset_breaker", "disable"]

    def get_readonly_fields(self, request, obj=None):
        # An account's owner, processor and mode are what its credentials and routes were made
        # for: fixed once created (a new account is made instead).
        fixed = ("merchant", "processor", "livemode") if obj is not None and obj.pk else ()
        return (*super().get_readonly_fields(request, obj), *fixed)

    inlines = [ProcessorRouteInline]

    @admin.display(description="circuit breaker")
    def breaker(self, obj: ProcessorAccount) -> str:
        if not obj.pk:
            return "-"
        state = account_breaker_state(account_id=obj.id)
        return f"{state['state']} (failures {state['fail_counter']})"

    @admin.action(description="Close the circuit breaker")
    def reset_breaker(self, request, queryset):
        for account in queryset:
            breaker_reset(name=account.id, merchant_id=account.merchant_id)
        messages.success(request, f"Closed {queryset.count()} breaker(s).")

    @admin.action(description="Disable (skip in routing)")
    def disable(self, request, queryset):
        merchant_ids = set(queryset.values_list("merchant_id", flat=True))
        queryset.update(is_active=False)
        for merchant_id in merchant_ids:
            processor_config_changed(merchant_id=merchant_id)


@admin.register(ProcessorRoute)
class ProcessorRouteAdmin(ConfigChangedAdmin):
    list_display = ("merchant", "payment_method_type", "currency", "priority", "account")
    list_filter = ("payment_method_type",)
    search_fields = ("merchant__id", "account__id")
    raw_id_fields = ("account",)


@admin.register(BreakerEvent)
class BreakerEventAdmin(AuditedAdmin):
    list_display = ("created", "breaker", "merchant_id", "old_state", "new_state")
    list_filter = ("new_state",)
    search_fields = ("breaker", "merchant_id")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ProcessorWebhookEvent)
class ProcessorWebhookEventAdmin(AuditedAdmin):
    list_display = ("id", "account", "type", "processor_event_id", "processor_reference", "received", "applied_at")
    search_fields = ("processor_event_id", "processor_reference", "account__id")
    list_filter = ("type",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
