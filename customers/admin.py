from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError as DRFValidationError

from audit.admin_mixins import AuditedAdmin

from .cache import customer_cache_invalidate
from .models import Customer, CustomerSession
from .serializers import MetadataField
from .services import customer_erase, customer_unlock


class ErasedFilter(admin.SimpleListFilter):
    title = "personal data"
    parameter_name = "erased"

    def lookups(self, request, model_admin):
        return [("no", "present"), ("yes", "erased")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(erased_at__isnull=self.value() == "no")
        return queryset


class LockedFilter(admin.SimpleListFilter):
    title = "login lock"
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return [("yes", "locked now"), ("no", "not locked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(locked_until__gt=now)
        if self.value() == "no":
            return queryset.exclude(locked_until__gt=now)
        return queryset


class HasPasswordFilter(admin.SimpleListFilter):
    title = "password"
    parameter_name = "has_password"

    def lookups(self, request, model_admin):
        return [("yes", "set"), ("no", "not set")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(password="")
        if self.value() == "no":
            return queryset.filter(password="")
        return queryset


class CustomerAdminForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = ("email", "name", "phone", "metadata")

    def clean_metadata(self):
        try:
            return MetadataField().run_validation(self.cleaned_data.get("metadata") or {})
        except DRFValidationError as exc:
            raise ValidationError(exc.detail) from None

    def validate_unique(self):
        super().validate_unique()
        # The per-merchant email constraint names ``merchant``, which is not a form field, so
        # Django's form validation would skip it and the save would hit the database error.
        try:
            self.instance.validate_constraints()
        except ValidationError as exc:
            self._update_errors(exc)


class CustomerSessionInline(admin.TabularInline):
    model = CustomerSession
    extra = 0
    can_delete = False
    fields = ("id", "livemode", "created_ip", "created", "expires_at", "revoked_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(AuditedAdmin):
    form = CustomerAdminForm
    list_display = ("id", "email", "name", "merchant", "livemode", "created", "locked_until", "erased_at")
    search_fields = ("=id", "email")
    list_filter = (ErasedFilter, LockedFilter, HasPasswordFilter, "livemode", "merchant", "created")
    list_select_related = ("merchant",)
    fields = (
        "id",
        "merchant",
        "livemode",
        "email",
        "name",
        "phone",
        "metadata",
        "password_status",
        "failed_login_count",
        "locked_until",
        "erased_at",
        "created",
        "updated",
    )
    readonly_fields = (
        "id",
        "merchant",
        "livemode",
        "password_status",
        "failed_login_count",
        "locked_until",
        "erased_at",
        "created",
        "updated",
    )
    inlines = [CustomerSessionInline]
    actions = ["erase_personal_data", "unlock_login"]

    @admin.display(description="password")
    def password_status(self, obj: Customer) -> str:
        return "set" if obj.has_password else "not set"

    def has_add_permission(self, request) -> bool:
        return False  # customers come from the API (customer_create), which validates passwords

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # rows are kept for orders and payments; use "Erase personal data"

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_erased:
            return self.fields
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            customer_cache_invalidate(customer_id=obj.id)

    @admin.action(description="Erase personal data (keeps the row, ends sessions)")
    def erase_personal_data(self, request, queryset):
        erased = 0
        for customer in queryset.filter(erased_at__isnull=True):
            customer_erase(merchant_id=customer.merchant_id, customer_id=customer.id, livemode=customer.livemode)
            self.log_change(request, customer, "Erased personal data.")
            erased += 1
        self.message_user(request, f"Erased personal data of {erased} customer(s).", level=messages.SUCCESS)

    @admin.action(description="Unlock login (reset failed attempts)")
    def unlock_login(self, request, queryset):
        unlocked = 0
        for customer in queryset.filter(erased_at__isnull=True):
            customer_unlock(merchant_id=customer.merchant_id, customer_id=customer.id, livemode=customer.livemode)
            self.log_change(request, customer, "Unlocked login.")
            unlocked += 1
        self.message_user(request, f"Unlocked {unlocked} customer(s).", level=messages.SUCCESS)
