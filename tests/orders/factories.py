"""Orders as rows, for tests of this app and of payments.

``OrderFactory(merchant=m)`` or ``OrderFactory(customer=c)`` (the order takes the customer's
merchant and mode) is a pending USD order of one line (2 x 1500) with consistent totals.
``OrderFactory(lines=[{"sku": "A", "quantity": 1, "unit_amount": 999}], shipping_amount=500)``
sets the lines; ``OrderFactory(status="paid")`` (or fulfilled / partially_refunded / refunded)
also fills ``amount_paid`` / ``amount_refunded`` so the row is one the services could have made.
No event or notification is written: use ``orders.services.order_create`` for that.
"""

import factory
from django.utils import timezone

from orders.models import Notification, Order, OrderLine, OrderStatus
from tests.customers.factories import CustomerFactory
from tests.factories import MerchantFactory

DEFAULT_LINES = ({"sku": "SKU-1", "name": "Widget", "quantity": 2, "unit_amount": 1500},)

_PAID = {OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED}


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    merchant = factory.SubFactory(MerchantFactory)
    customer = factory.SubFactory(CustomerFactory, merchant=factory.SelfAttribute("..merchant"))
    currency = "USD"
    status = OrderStatus.PENDING
    shipping_amount = 0
    tax_amount = 0
    metadata = factory.LazyFunction(dict)

    @classmethod
    def _create(cls, model_class, *args, lines=DEFAULT_LINES, **kwargs):
        # OrderFactory(customer=c) alone: the order belongs to c's merchant.
        kwargs["merchant"] = kwargs["customer"].merchant
        # ... and its mode, as order_create insists.
        kwargs.setdefault("livemode", kwargs["customer"].livemode)
        lines = [dict(line) for line in lines]
        for line in lines:
            line.setdefault("name", line.get("sku", "Item"))
            line.setdefault("sku", "SKU")
            line.setdefault("quantity", 1)
        subtotal = sum(line["quantity"] * line["unit_amount"] for line in lines)
        kwargs.setdefault("subtotal", subtotal)
        kwargs.setdefault("total", kwargs["subtotal"] + kwargs["shipping_amount"] + kwargs["tax_amount"])
        status = kwargs["status"]
        if status in _PAID:
            kwargs.setdefault("amount_paid", kwargs["total"])
            kwargs.setdefault("paid_at", timezone.now())
        if status == OrderStatus.REFUNDED:
            kwargs.setdefault("amount_refunded", kwargs["amount_paid"])
        elif status == OrderStatus.PARTIALLY_REFUNDED:
            kwargs.setdefault("amount_refunded", 1)
        if status == OrderStatus.FULFILLED:
            kwargs.setdefault("fulfilled_at", timezone.now())
        if status == OrderStatus.CANCELED:
            kwargs.setdefault("canceled_at", timezone.now())
        order = super()._create(model_class, *args, **kwargs)
        OrderLine.objects.bulk_create(
            OrderLine(
                merchant_id=order.merchant_id,
                order=order,
                position=index,
                sku=line["sku"],
                name=line["name"],
                quantity=line["quantity"],
                unit_amount=line["unit_amount"],
                amount=line["quantity"] * line["unit_amount"],
            )
            for index, line in enumerate(lines)
        )
        return order


class NotificationFactory(factory.django.DjangoModelFactory):
    """A notification row with no task behind it (as if the process died before the enqueue)."""

    class Meta:
        model = Notification

    order = factory.SubFactory(OrderFactory)
    merchant = factory.SelfAttribute("order.merchant")
    kind = Notification.Kind.CREATED
    recipient = factory.SelfAttribute("order.customer.email")
    status = Notification.Status.PENDING
    data = factory.LazyAttribute(
        lambda n: {"order": _order_snapshot(n.order), "customer_name": "", "merchant_name": ""}
    )


def _order_snapshot(order: Order) -> dict:
    from orders.serializers import customer_order_data

    return dict(customer_order_data(Order.objects.prefetch_related("lines").get(pk=order.pk)))
