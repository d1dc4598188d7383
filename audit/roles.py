"""Operator roles: Django groups (created by migration 0003) and what each may do.

* ``support``: read-only everywhere (every ``view_*`` permission) and the audit trail's CSV export.
* ``finance``: reads everything too, resolves reconciliation items (``reconciliation``'s models,
  granted when that app is installed), reads the books and reports, exports the audit trail.
* ``operators``: reads everything, and may refund, capture, cancel and sync payments, resend
  events and revoke API keys (custom permissions on ``audit.AuditEntry``, checked by those admin
  actions' ``allowed_permissions``).

No role may add, change or delete rows through the admin's forms except where listed: money moves
only through the services. Permissions are granted by codename after every migration
(``post_migrate``), skipping any that do not exist yet, so a role that names a model of an app
not installed (finance's reconciliation runs) picks it up once that app migrates.
"""

from django.db import DEFAULT_DB_ALIAS

SUPPORT, FINANCE, OPERATORS = "support", "finance", "operators"
ROLES = (SUPPORT, FINANCE, OPERATORS)

# (app_label, codename) granted on top of "view everything".
ROLE_EXTRA_PERMISSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    SUPPORT: (("audit", "export_auditentry"),),
    FINANCE: (
        ("audit", "export_auditentry"),
        ("reconciliation", "view_reconciliationrun"),
        ("reconciliation", "view_reconciliationitem"),
        ("reconciliation", "change_reconciliationitem"),  # resolve an item with a reason
    ),
    OPERATORS: (
        ("audit", "operate_payments"),
        ("audit", "resend_events"),
        ("audit", "revoke_api_keys"),
    ),
}
# Apps whose rows are operators' business (everything but Django's own machinery).
VIEWABLE_APP_LABELS_EXCLUDED = frozenset({"sessions", "contenttypes", "auth", "admin"})


def roles_sync(*, using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Create the groups if missing and set each one's permissions to exactly its role's.
    Returns the number of permissions per group."""
    from django.contrib.auth.models import Group, Permission

    views = Permission.objects.using(using).filter(codename__startswith="view_")
    views = views.exclude(content_type__app_label__in=VIEWABLE_APP_LABELS_EXCLUDED)
    view_ids = set(views.values_list("id", flat=True))
    counts = {}
    for role in ROLES:
        wanted = set(view_ids)
        for app_label, codename in ROLE_EXTRA_PERMISSIONS[role]:
            found = Permission.objects.using(using).filter(content_type__app_label=app_label, codename=codename)
            wanted.update(found.values_list("id", flat=True))  # a missing app's permission: skipped for now
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set(wanted)
        counts[role] = len(wanted)
    return counts


def roles_sync_after_migrate(sender, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    # Runs once per app; only the last call sees every permission, and each call is cheap. A
    # partial migrate (``migrate ledger`` on a new database) may run before auth's tables exist.
    from django.db import connections

    if not {"auth_group", "auth_permission"} <= set(connections[using].introspection.table_names()):
        return
    roles_sync(using=using)
