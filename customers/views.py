"""Customer endpoints. Merchant side (secret key): ``/v1/customers``. Customer side: ``/v1/auth/login``
(publishable key), ``/v1/auth/logout`` and ``/v1/me`` (customer session token).

Other apps add ``/v1/me/...`` endpoints the same way as ``MeView``: ``permission_classes =
[IsCustomer]`` and every lookup filtered by ``request.auth.merchant_id``, ``request.auth.livemode``
and ``request.auth.customer_id``. Every lookup, merchant side too, is scoped to the key's mode:
a test object is a 404 to a live key and the reverse, exactly like another merchant's.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from gateway.forwarded import client_ip
from gateway.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.pagination import LIST_PARAMETERS, list_envelope_serializer, paginate
from gateway.permissions import IsCustomer, IsPublishableKey
from gateway.views import GatewayAPIView

from . import selectors, services
from .cache import customer_representation
from .serializers import (
    CustomerCreateSerializer,
    CustomerSerializer,
    CustomerSessionSerializer,
    CustomerUpdateSerializer,
    DeletedCustomerSerializer,
    LoginSerializer,
    LogoutResultSerializer,
    LogoutSerializer,
    MeSerializer,
    MeUpdateSerializer,
    PasswordChangeSerializer,
)

CustomerListSerializer = list_envelope_serializer(CustomerSerializer, "CustomerList")


def _validated(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class _NoStoredRequestMixin:
    """For bodies that carry a password or answers that carry a token: the Idempotency-Key is
    accepted but nothing is recorded (no request fingerprint, no stored response), so neither
    can be recovered from the idempotency table. A retry simply runs again."""

    def dispatch(self, request, *args, **kwargs):
        request.META.pop(IDEMPOTENCY_HEADER, None)
        return super().dispatch(request, *args, **kwargs)


# --- merchant API ------------------------------------------------------------------------------


class CustomerListCreateView(GatewayAPIView):
    @extend_schema(
        operation_id="customers_list",
        summary="List customers",
        parameters=[
            *LIST_PARAMETERS,
            OpenApiParameter("email", str, description="Only the customer with this email (case-insensitive)."),
        ],
        responses=CustomerListSerializer,
        tags=["customers"],
    )
    def get(self, request):
        queryset = selectors.customer_list(
            merchant_id=request.auth.merchant_id,
            livemode=request.auth.livemode,
            email=request.query_params.get("email"),
        )
        return Response(
            paginate(
                queryset=queryset,
                params=request.query_params,
                serialize=lambda page: CustomerSerializer(page, many=True).data,
            )
        )

    @extend_schema(
        operation_id="customers_create",
        summary="Create a customer",
        description=(
            "The customer belongs to the key's mode (test or live) and is invisible to keys of the other "
            "mode. `email` is unique per merchant and mode (case-insensitive): a duplicate is 409 "
            "`customer_exists`."
        ),
        request=CustomerCreateSerializer,
        examples=[
            OpenApiExample(
                "A customer",
                value={"email": "ada@example.com", "name": "Ada Lovelace", "metadata": {"crm_id": "42"}},
                request_only=True,
            )
        ],
        responses={201: CustomerSerializer},
        tags=["customers"],
    )
    def post(self, request):
        data = _validated(CustomerCreateSerializer, request)
        customer = services.customer_create(
            merchant_id=request.auth.merchant_id, livemode=request.auth.livemode, **data
        )
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetailView(GatewayAPIView):
    @extend_schema(
        operation_id="customers_retrieve",
        summary="Retrieve a customer",
        description="Served from the cache when possible. An erased customer has `deleted: true`.",
        responses=CustomerSerializer,
        tags=["customers"],
    )
    def get(self, request, customer_id: str):
        merchant_id, livemode = request.auth.merchant_id, request.auth.livemode

        def load():
            customer = selectors.customer_get(merchant_id=merchant_id, customer_id=customer_id, livemode=livemode)
            return CustomerSerializer(customer).data

        return Response(
            customer_representation(
                merchant_id=merchant_id, livemode=livemode, customer_id=customer_id, representation="api", load=load
            )
        )

    @extend_schema(
        operation_id="customers_update",
        summary="Update a customer's profile",
        description="Only `email`, `name`, `phone` and `metadata`; any other parameter is refused.",
        request=CustomerUpdateSerializer,
        responses=CustomerSerializer,
        tags=["customers"],
    )
    def patch(self, request, customer_id: str):
        changes = _validated(CustomerUpdateSerializer, request)
        customer = services.customer_update(
            merchant_id=request.auth.merchant_id,
            livemode=request.auth.livemode,
            customer_id=customer_id,
            changes=changes,
        )
        return Response(CustomerSerializer(customer).data)

    @extend_schema(
        operation_id="customers_delete",
        summary="Erase a customer's personal data",
        description=(
            "Wipes email, name, phone, metadata, password and sessions; the customer object stays "
            "(orders and payments remain auditable), cannot log in, and its email may be reused."
        ),
        responses={200: DeletedCustomerSerializer},
        tags=["customers"],
    )
    def delete(self, request, customer_id: str):
        customer = services.customer_erase(
            merchant_id=request.auth.merchant_id, livemode=request.auth.livemode, customer_id=customer_id
        )
        return Response({"id": customer.id, "object": "customer", "deleted": True})


# --- customer sessions --------------------------------------------------------------------------


class LoginView(_NoStoredRequestMixin, GatewayAPIView):
    permission_classes = [IsPublishableKey]

    @extend_schema(
        operation_id="auth_login",
        summary="Log a customer in",
        description=(
            "With the merchant's publishable key. Answers a session token (shown once) and its expiry. "
            "Unknown email, wrong password and a locked account give the same 401 `invalid_credentials`; "
            "too many attempts per client IP or per email give 429. Idempotency-Key is accepted but "
            "nothing is stored: a retry opens another session."
        ),
        request=LoginSerializer,
        responses={200: CustomerSessionSerializer},
        tags=["customer sessions"],
    )
    def post(self, request):
        data = _validated(LoginSerializer, request)
        session, token = services.customer_login(
            merchant_id=request.auth.merchant_id,
            email=data["email"],
            password=data["password"],
            client_ip=client_ip(request),
            livemode=request.auth.livemode,
        )
        return Response(
            {
                "id": session.id,
                "object": "customer_session",
                "token": token,
                "livemode": session.livemode,
                "expires_at": int(session.expires_at.timestamp()),
                "customer": MeSerializer(session.customer).data,
            }
        )


class LogoutView(GatewayAPIView):
    permission_classes = [IsCustomer]

    @extend_schema(
        operation_id="auth_logout",
        summary="Log out",
        description='Revokes the presented session token; with `{"all": true}` every session of the customer.',
        request=LogoutSerializer,
        responses=LogoutResultSerializer,
        tags=["customer sessions"],
    )
    def post(self, request):
        data = _validated(LogoutSerializer, request)
        revoked = services.customer_logout(
            customer_id=request.auth.customer_id, session_id=request.auth.session_id, all_sessions=data["all"]
        )
        return Response({"object": "logout", "revoked_sessions": revoked})


class MeView(GatewayAPIView):
    permission_classes = [IsCustomer]

    @extend_schema(
        operation_id="me_retrieve",
        summary="The logged-in customer's profile",
        responses=MeSerializer,
        tags=["me"],
    )
    def get(self, request):
        principal = request.auth

        def load():
            customer = selectors.customer_get(
                merchant_id=principal.merchant_id, customer_id=principal.customer_id, livemode=principal.livemode
            )
            return MeSerializer(customer).data

        return Response(
            customer_representation(
                merchant_id=principal.merchant_id,
                livemode=principal.livemode,
                customer_id=principal.customer_id,
                representation="me",
                load=load,
            )
        )

    @extend_schema(
        operation_id="me_update",
        summary="Update the logged-in customer's profile",
        description="Only `email`, `name` and `phone`.",
        request=MeUpdateSerializer,
        responses=MeSerializer,
        tags=["me"],
    )
    def patch(self, request):
        changes = _validated(MeUpdateSerializer, request)
        customer = services.customer_update(
            merchant_id=request.auth.merchant_id,
            livemode=request.auth.livemode,
            customer_id=request.auth.customer_id,
            changes=changes,
        )
        return Response(MeSerializer(customer).data)


class MePasswordView(_NoStoredRequestMixin, GatewayAPIView):
    permission_classes = [IsCustomer]

    @extend_schema(
        operation_id="me_password_change",
        summary="Change the logged-in customer's password",
        description=(
            "Needs the current password. Every other session of the customer is revoked; the "
            "presented one stays valid. Idempotency-Key is accepted but nothing is stored."
        ),
        request=PasswordChangeSerializer,
        responses=MeSerializer,
        tags=["me"],
    )
    def post(self, request):
        data = _validated(PasswordChangeSerializer, request)
        customer = services.customer_password_change(
            merchant_id=request.auth.merchant_id,
            customer_id=request.auth.customer_id,
            current_password=data["current_password"],
            new_password=data["new_password"],
            keep_session_id=request.auth.session_id,
            livemode=request.auth.livemode,
        )
        return Response(MeSerializer(customer).data)
