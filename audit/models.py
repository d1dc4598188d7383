"""The operators' audit trail (PCI DSS 10.2): one ``AuditEntry`` per operator action.

Append-only in the database (migration 0002: UPDATE and DELETE raise, as on the ledger), so no
code path, the admin or a shell can rewrite history. Values are masked before they are stored
(``audit.masking``): secrets, credentials and card data never reach this table.
"""

from django.db import models

from gateway.ids import PublicIdField


class AuditEntry(models.Model):
    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        COMMAND = "command", "Management command"
        API = "api", "API"
        SYSTEM = "system", "System"

    id = PublicIdField(prefix="aud")
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    # Who: the admin user's name (and id), ``command:<name>`` with the OS user, or the API key id.
    actor = models.CharField(max_length=150)
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=100, db_index=True)  # e.g. payment.capture, admin.change, command.reconcile
    object_type = models.CharField(max_length=100, blank=True, db_index=True)  # app_label.model
    object_id = models.CharField(max_length=1000, blank=True, db_index=True)  # one id, or several joined by ","
    merchant_id = models.CharField(max_length=40, blank=True, db_index=True)
    before = models.JSONField(default=dict, blank=True)  # the changed fields' old values (masked)
    after = models.JSONField(default=dict, blank=True)  # their new values, or the operation's parameters
    outcome = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    # The confirmation form's one-time token: a double submit finds it taken and runs nothing.
    confirmation_token = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        permissions = [
            ("export_auditentry", "Export the audit trail as CSV"),
            ("operate_payments", "Refund, capture, cancel and sync payments"),
            ("resend_events", "Resend events to webhook endpoints"),
            ("revoke_api_keys", "Revoke API keys"),
        ]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_type} {self.object_id}"
