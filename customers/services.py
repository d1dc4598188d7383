"""Writes of the customers app: profiles, passwords, login sessions, erasure.

Every function that changes a customer's visible data invalidates its cached representations;
every function that ends sessions invalidates their cached token resolution.
"""

import ipaddress
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from gateway.errors import RATE_LIMIT, ApiError, Conflict, InvalidRequest, not_found
from gateway.ratelimit import WindowLimit, window_take

from .cache import customer_cache_invalidate, session_cache_invalidate
from .errors import InvalidCredentials
from .models import EMAIL_UNIQUE_CONSTRAINT, Customer, CustomerSession
from .tokens import session_token_hash, session_token_new

PROFILE_FIELDS = frozenset({"email", "name", "phone", "metadata"})


def _email_conflict(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return name == EMAIL_UNIQUE_CONSTRAINT or (name is None and EMAIL_UNIQUE_CONSTRAINT in str(exc))


def _customer_exists() -> Conflict:
    return Conflict("A customer with this email already exists.", code="customer_exists", param="email")


def _password_validate(*, password: str, customer: Customer, param: str) -> None:
    try:
        validate_password(password, user=customer)
    except DjangoValidationError as exc:
        raise InvalidRequest(" ".join(exc.messages), code="password_invalid", param=param) from None


def customer_create(
    *,
    merchant_id: str,
    email: str,
    name: str = "",
    phone: str = "",
    metadata: dict[str, str] | None = None,
    password: str | None = None,
    livemode: bool = False,
) -> Customer:
    """Create a customer in one mode (test or live); a second non-erased customer with the same
    email (any case) in the same merchant and mode -> 409 ``customer_exists``.

    No existence check first: the unique index decides, so concurrent creates cannot both win.
    """
    customer = Customer(
        merchant_id=merchant_id,
        livemode=livemode,
        email=email.strip(),
        name=name,
        phone=phone,
        metadata=metadata or {},
    )
    if password is not None:
        _password_validate(password=password, customer=customer, param="password")
        customer.password = make_password(password)
    try:
        with transaction.atomic():
            customer.save(force_insert=True)
    except IntegrityError as exc:
        if _email_conflict(exc):
            raise _customer_exists() from None
        raise
    return customer


def _customer_for_update(*, merchant_id: str, customer_id: str, livemode: bool) -> Customer:
    customer = (
        Customer.objects.select_for_update().filter(merchant_id=merchant_id, livemode=livemode, pk=customer_id).first()
    )
    if customer is None or customer.is_erased:
        raise not_found("customer", customer_id)
    return customer


def customer_update(*, merchant_id: str, customer_id: str, changes: dict[str, Any], livemode: bool = False) -> Customer:
    """Change profile fields only (email, name, phone, metadata); anything else is refused."""
    unknown = set(changes) - PROFILE_FIELDS
    if unknown:
        raise InvalidRequest(f"Cannot update {sorted(unknown)[0]}.", code="parameter_unknown", param=sorted(unknown)[0])
    try:
        with transaction.atomic():
            customer = _customer_for_update(merchant_id=merchant_id, customer_id=customer_id, livemode=livemode)
            for field, value in changes.items():
                setattr(customer, field, value.strip() if field == "email" else value)
            customer.save(update_fields=[*changes, "updated"])
            customer_cache_invalidate(customer_id=customer.id)
    except IntegrityError as exc:
        if _email_conflict(exc):
            raise _customer_exists() from None
        raise
    return customer


def customer_erase(*, merchant_id: str, customer_id: str, livemode: bool = False) -> Customer:
    """Erase personal data but keep the row (orders and payments stay auditable).

    Wipes email, name, phone, metadata and the password, deletes every session; afterwards the
    customer cannot log in and the email can be used for a new customer. Erasing twice is a no-op.
    """
    with transaction.atomic():
        customer = (
            Customer.objects.select_for_update()
            .filter(merchant_id=merchant_id, livemode=livemode, pk=customer_id)
            .first()
        )
        if customer is None:
            raise not_found("customer", customer_id)
        if customer.is_erased:
            return customer
        customer.email = None
        customer.name = ""
        customer.phone = ""
        customer.metadata = {}
        customer.password = ""
        customer.failed_login_count = 0
        customer.locked_until = None
        customer.erased_at = timezone.now()
        customer.save()
        sessions = CustomerSession.objects.filter(customer_id=customer.id)
        session_cache_invalidate(token_hashes=list(sessions.values_list("token_hash", flat=True)))
        sessions.delete()
        customer_cache_invalidate(customer_id=customer.id)
    return customer


def customer_unlock(*, merchant_id: str, customer_id: str, livemode: bool = False) -> Customer:
    """Operator action: lift a login lock and reset the failure counter."""
    with transaction.atomic():
        customer = _customer_for_update(merchant_id=merchant_id, customer_id=customer_id, livemode=livemode)
        customer.failed_login_count = 0
        customer.locked_until = None
        customer.save(update_fields=["failed_login_count", "locked_until", "updated"])
    return customer


# --- login ------------------------------------------------------------------------------------


def _login_rate_limit(*, merchant_id: str, livemode: bool, email: str, client_ip: str) -> None:
    # Sliding windows: no minute ever passes more attempts than the limit. An attempt passes only if
    # both limits have room and then counts in both, so one cannot be dodged by tripping the other.
    mode = "live" if livemode else "test"
    wait = window_take(
        limits=[
            WindowLimit.parse(f"customers.login.ip:{client_ip}", settings.CUSTOMER_LOGIN_RATE_PER_IP),
            WindowLimit.parse(
                f"customers.login.email:{merchant_id}:{mode}:{email}", settings.CUSTOMER_LOGIN_RATE_PER_EMAIL
            ),
        ],
        fail_open=settings.RATELIMIT_FAIL_OPEN,
    )
    if wait is not None:
        raise ApiError(
            "Too many login attempts; try again later.",
            status_code=429,
            error_type=RATE_LIMIT,
            code="rate_limited",
            headers={"Retry-After": str(wait)},
        )


def _login_failure_record(*, customer_id: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        Customer.objects.filter(pk=customer_id).update(failed_login_count=F("failed_login_count") + 1)
        Customer.objects.filter(pk=customer_id, failed_login_count__gte=settings.CUSTOMER_LOCKOUT_THRESHOLD).update(
            locked_until=now + timedelta(seconds=settings.CUSTOMER_LOCKOUT_SECONDS), failed_login_count=0
        )


def _password_matches(customer: Customer, password: str) -> bool:
    def upgrade(raw: str) -> None:  # the hasher's parameters changed since this hash was made
        Customer.objects.filter(pk=customer.pk).update(password=make_password(raw))

    return check_password(password, customer.password, setter=upgrade)


def _session_create(*, customer: Customer, client_ip: str) -> tuple[CustomerSession, str]:
    raw_token = session_token_new(merchant_id=customer.merchant_id)
    try:
        created_ip = str(ipaddress.ip_address(client_ip))
    except ValueError:
        created_ip = None
    session = CustomerSession.objects.create(
        merchant_id=customer.merchant_id,
        customer=customer,
        token_hash=session_token_hash(raw_token),
        # The session's principal acts in its customer's mode, whatever happens to the key later.
        livemode=customer.livemode,
        created_ip=created_ip,
        expires_at=timezone.now() + timedelta(seconds=settings.CUSTOMER_SESSION_TTL_SECONDS),
    )
    return session, raw_token


def customer_login(
    *, merchant_id: str, email: str, password: str, client_ip: str, livemode: bool = False
) -> tuple[CustomerSession, str]:
    """Check the password and open a session; returns the session and its raw ``cst_`` token (shown once).

    Only customers of the key's mode are found: a live publishable key never logs in a test
    customer (and vice versa). Unknown email, wrong password, no password and a locked account all raise the same
    ``InvalidCredentials`` after the same amount of hashing work.
    """
    email_key = email.strip().lower()
    _login_rate_limit(merchant_id=merchant_id, livemode=livemode, email=email_key, client_ip=client_ip)
    customer = (
        Customer.objects.alias(email_lower=Lower("email"))
        .filter(merchant_id=merchant_id, livemode=livemode, email_lower=email_key, erased_at__isnull=True)
        .first()
    )
    now = timezone.now()
    if customer is None or not customer.has_password or (customer.locked_until and customer.locked_until > now):
        make_password(password)  # same cost as a real check, so timing does not tell either
        raise InvalidCredentials()
    if not _password_matches(customer, password):
        _login_failure_record(customer_id=customer.id)
        raise InvalidCredentials()
    if customer.failed_login_count or customer.locked_until:
        Customer.objects.filter(pk=customer.pk).update(failed_login_count=0, locked_until=None)
    return _session_create(customer=customer, client_ip=client_ip)


# --- sessions -----------------------------------------------------------------------------------


def _sessions_revoke(sessions) -> int:
    sessions = sessions.filter(revoked_at__isnull=True)
    with transaction.atomic():
        hashes = list(sessions.select_for_update().values_list("token_hash", flat=True))
        revoked = CustomerSession.objects.filter(token_hash__in=hashes).update(revoked_at=timezone.now())
        session_cache_invalidate(token_hashes=hashes)
    return revoked


def customer_logout(*, customer_id: str, session_id: str, all_sessions: bool = False) -> int:
    """Revoke the presented session, or with ``all_sessions`` every session of the customer.

    Returns how many sessions were revoked.
    """
    sessions = CustomerSession.objects.filter(customer_id=customer_id)
    if not all_sessions:
        sessions = sessions.filter(pk=session_id)
    return _sessions_revoke(sessions)


def customer_password_change(
    *,
    merchant_id: str,
    customer_id: str,
    current_password: str,
    new_password: str,
    keep_session_id: str | None,
    livemode: bool = False,
) -> Customer:
    """Set a new password after checking the current one; every other session is revoked."""
    customer = Customer.objects.filter(
        merchant_id=merchant_id, livemode=livemode, pk=customer_id, erased_at__isnull=True
    ).first()
    if customer is None:
        raise not_found("customer", customer_id)
    locked = customer.locked_until is not None and customer.locked_until > timezone.now()
    if locked or not customer.has_password or not check_password(current_password, customer.password):
        if not locked:
            _login_failure_record(customer_id=customer.id)  # a stolen session must not allow guessing
        raise InvalidRequest("The current password is incorrect.", code="incorrect_password", param="current_password")
    _password_validate(password=new_password, customer=customer, param="new_password")
    with transaction.atomic():
        customer = _customer_for_update(merchant_id=merchant_id, customer_id=customer_id, livemode=livemode)
        customer.password = make_password(new_password)
        customer.failed_login_count = 0
        customer.locked_until = None
        customer.save(update_fields=["password", "failed_login_count", "locked_until", "updated"])
        _sessions_revoke(CustomerSession.objects.filter(customer_id=customer.id).exclude(pk=keep_session_id))
        customer_cache_invalidate(customer_id=customer.id)
    return customer


def customer_sessions_purge(*, older_than: timedelta = timedelta(days=7)) -> int:
    """Delete sessions that expired or were revoked more than ``older_than`` ago."""
    cutoff = timezone.now() - older_than
    expired, _ = CustomerSession.objects.filter(expires_at__lt=cutoff).delete()
    revoked, _ = CustomerSession.objects.filter(revoked_at__lt=cutoff).delete()
    return expired + revoked
