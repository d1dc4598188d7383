"""The order state machine: cancel / fulfill over the API, paid / refunded through the services
the payments app calls, events and notifications written in the same transaction."""

import threading

import pytest
from django.db import connection, transaction

from events.models import Event
from gateway.errors import ApiError, Conflict, NotFound
from orders import selectors, services
from orders.models import ORDER_TRANSITIONS, Notification, Order, OrderStatus
from tests.orders.conftest import error_of
from tests.orders.factories import OrderFactory
from tests.races import join_all
from tests.waiting import WAIT_SECONDS

ALL_STATUSES = list(OrderStatus.values)


def test_transition_table_is_the_documented_one():
    assert {status: set(targets) for status, targets in ORDER_TRANSITIONS.items()} == {
        "pending": {"paid", "canceled"},
        "paid": {"fulfilled", "partially_refunded", "refunded"},
        "fulfilled": {"partially_refunded", "refunded"},
        "partially_refunded": {"partially_refunded", "refunded"},
        "canceled": set(),
        "refunded": set(),
    }


# --- cancel / fulfill over the API ---------------------------------------------------------------


def test_cancel_a_pending_order(secret_client, create_order, django_assert_max_num_queries):
    order_id = create_order()["id"]

    with django_assert_max_num_queries(10):
        response = secret_client.post(f"/v1/orders/{order_id}/cancel")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "canceled"
    assert body["amount_outstanding"] == 0
    assert isinstance(body["status_transitions"]["canceled_at"], int)
    assert Order.objects.get(id=order_id).status == "canceled"
    assert Event.objects.filter(type="order.canceled", data__object__id=order_id).count() == 1
    assert Notification.objects.filter(order_id=order_id, kind="canceled").count() == 1


@pytest.mark.parametrize("status", [s for s in ALL_STATUSES if s != "pending"])
def test_cancel_is_refused_unless_pending(secret_client, merchant, status):
    order = OrderFactory(merchant=merchant, status=status)

    response = secret_client.post(f"/v1/orders/{order.id}/cancel")

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "order_unexpected_state"
    assert f"'{status}'" in error["message"]
    assert Order.objects.get(id=order.id).status == status
    assert not Event.objects.exists()


def test_cancel_is_refused_once_partly_paid(secret_client, merchant):
    order = OrderFactory(merchant=merchant)
    with transaction.atomic():
        services.order_mark_paid(order=services.order_lock(merchant_id=merchant.id, order_id=order.id), amount=1000)

    response = secret_client.post(f"/v1/orders/{order.id}/cancel")

    assert response.status_code == 409
    assert error_of(response)["code"] == "order_unexpected_state"
    assert "'pending'" in error_of(response)["message"]
    assert Order.objects.get(id=order.id).status == "pending"


def test_fulfill_a_paid_order(secret_client, merchant):
    order = OrderFactory(merchant=merchant, status="paid")

    response = secret_client.post(f"/v1/orders/{order.id}/fulfill")

    assert response.status_code == 200
    assert response.json()["status"] == "fulfilled"
    assert Order.objects.get(id=order.id).fulfilled_at is not None
    assert Event.objects.filter(type="order.fulfilled").count() == 1
    assert Notification.objects.filter(order=order, kind="fulfilled").count() == 1


@pytest.mark.parametrize("status", [s for s in ALL_STATUSES if s != "paid"])
def test_fulfill_is_refused_unless_paid(secret_client, merchant, status):
    order = OrderFactory(merchant=merchant, status=status)

    response = secret_client.post(f"/v1/orders/{order.id}/fulfill")

    assert response.status_code == 409
    assert error_of(response)["code"] == "order_unexpected_state"
    assert f"'{status}'" in error_of(response)["message"]
    assert Order.objects.get(id=order.id).status == status


@pytest.mark.parametrize("action", ["cancel", "fulfill"])
def test_actions_on_another_merchants_order_are_a_404(secret_client, other_merchant_keys, action):
    foreign = OrderFactory(merchant_id=other_merchant_keys.merchant_id, status="paid")

    response = secret_client.post(f"/v1/orders/{foreign.id}/{action}")

    assert response.status_code == 404
    assert Order.objects.get(id=foreign.id).status == "paid"


# --- the services payments calls ---------------------------------------------------------------


def _pay(order: Order, amount: int) -> Order:
    with transaction.atomic():
        return services.order_mark_paid(
            order=services.order_lock(merchant_id=order.merchant_id, order_id=order.id), amount=amount
        )


def _refund(order: Order, amount: int) -> Order:
    with transaction.atomic():
        return services.order_record_refund(
            order=services.order_lock(merchant_id=order.merchant_id, order_id=order.id), amount=amount
        )


def test_order_get_and_outstanding_for_payments(merchant, other_merchant_keys):
    order = OrderFactory(merchant=merchant, shipping_amount=100)

    assert selectors.order_get(merchant_id=merchant.id, order_id=order.id) == order
    assert selectors.order_outstanding(order=order) == 3100
    with pytest.raises(NotFound):
        selectors.order_get(merchant_id=other_merchant_keys.merchant_id, order_id=order.id)


def test_partial_then_full_payment(merchant):
    order = OrderFactory(merchant=merchant)  # total 3000

    partly = _pay(order, 1000)
    assert (partly.status, partly.amount_paid, selectors.order_outstanding(order=partly)) == ("pending", 1000, 2000)
    assert not Event.objects.filter(type="order.paid").exists()
    assert Event.objects.get(type="order.updated").data["object"]["amount_paid"] == 1000
    assert not Notification.objects.filter(order=order).exists()

    paid = _pay(order, 2000)
    assert (paid.status, paid.amount_paid, selectors.order_outstanding(order=paid)) == ("paid", 3000, 0)
    stored = Order.objects.get(id=order.id)
    assert (stored.status, stored.amount_paid) == ("paid", 3000)
    assert stored.paid_at is not None
    event = Event.objects.get(type="order.paid")
    assert event.data["object"]["amount_paid"] == 3000
    assert Notification.objects.filter(order=order, kind="paid").count() == 1


@pytest.mark.parametrize("amount", [3001, 0, -1, 1.5, True])
def test_payment_beyond_outstanding_or_invalid_is_refused(merchant, amount):
    order = OrderFactory(merchant=merchant)

    with pytest.raises(ApiError):
        _pay(order, amount)

    assert Order.objects.get(id=order.id).amount_paid == 0


def test_payment_beyond_outstanding_is_a_conflict_with_its_code(merchant):
    order = OrderFactory(merchant=merchant)

    with pytest.raises(Conflict) as excinfo:
        _pay(order, 3001)

    assert excinfo.value.code == "amount_exceeds_outstanding"


def test_zero_total_order_is_paid_by_a_zero_payment(merchant):
    order = OrderFactory(merchant=merchant, lines=[{"sku": "FREE", "unit_amount": 0}])

    assert _pay(order, 0).status == "paid"


@pytest.mark.parametrize("status", ["paid", "fulfilled", "canceled", "partially_refunded", "refunded"])
def test_payment_on_a_non_pending_order_is_a_409(merchant, status):
    order = OrderFactory(merchant=merchant, status=status)

    with pytest.raises(Conflict) as excinfo:
        _pay(order, 1)

    assert excinfo.value.code == "order_unexpected_state"
    assert f"'{status}'" in excinfo.value.message


@pytest.mark.parametrize("start", ["paid", "fulfilled"])
def test_partial_then_full_refund(merchant, start):
    order = OrderFactory(merchant=merchant, status=start)  # 3000 paid

    partly = _refund(order, 1000)
    assert (partly.status, partly.amount_refunded) == ("partially_refunded", 1000)
    again = _refund(order, 500)
    assert (again.status, again.amount_refunded) == ("partially_refunded", 1500)
    done = _refund(order, 1500)
    assert (done.status, done.amount_refunded) == ("refunded", 3000)
    assert selectors.order_outstanding(order=done) == 0

    assert Order.objects.get(id=order.id).status == "refunded"
    types = list(Event.objects.order_by("id").values_list("type", flat=True))
    assert types == ["order.partially_refunded", "order.partially_refunded", "order.refunded"]
    kinds = list(Notification.objects.filter(order=order).order_by("id").values_list("kind", flat=True))
    assert kinds == ["partially_refunded", "partially_refunded", "refunded"]


def test_full_refund_at_once(merchant):
    order = OrderFactory(merchant=merchant, status="paid")

    assert _refund(order, 3000).status == "refunded"


@pytest.mark.parametrize("status", ["pending", "canceled", "refunded"])
def test_refund_in_a_wrong_status_is_a_409(merchant, status):
    order = OrderFactory(merchant=merchant, status=status)

    with pytest.raises(Conflict) as excinfo:
        _refund(order, 1)

    assert excinfo.value.code == "order_unexpected_state"
    assert f"'{status}'" in excinfo.value.message


def test_refund_beyond_what_was_paid_is_refused(merchant):
    order = OrderFactory(merchant=merchant, status="paid")

    with pytest.raises(Conflict) as excinfo:
        _refund(order, 3001)

    assert excinfo.value.code == "amount_exceeds_refundable"
    assert Order.objects.get(id=order.id).amount_refunded == 0


@pytest.mark.django_db(transaction=True)
def test_services_refuse_to_run_outside_a_transaction(merchant):
    order = OrderFactory(merchant=merchant)

    with pytest.raises(RuntimeError):
        services.order_lock(merchant_id=merchant.id, order_id=order.id)
    with pytest.raises(RuntimeError):
        services.order_mark_paid(order=order, amount=1)
    with pytest.raises(RuntimeError):
        services.order_record_refund(order=order, amount=1)
    assert Order.objects.get(id=order.id).amount_paid == 0


def test_order_lock_on_another_merchants_order_is_a_404(merchant, other_merchant_keys):
    order = OrderFactory(merchant=merchant)

    with pytest.raises(NotFound), transaction.atomic():
        services.order_lock(merchant_id=other_merchant_keys.merchant_id, order_id=order.id)


def test_event_and_notification_roll_back_with_the_change(merchant):
    order = OrderFactory(merchant=merchant)

    with pytest.raises(RuntimeError), transaction.atomic():
        services.order_mark_paid(order=services.order_lock(merchant_id=merchant.id, order_id=order.id), amount=3000)
        raise RuntimeError("the payment's own write failed")

    assert Order.objects.get(id=order.id).status == "pending"
    assert not Event.objects.exists()
    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_payments_cannot_overpay(merchant):
    """Two payments of the full amount race; the order lock lets exactly one through."""
    order = OrderFactory(merchant=merchant)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def pay():
        try:
            barrier.wait(timeout=WAIT_SECONDS)
            _pay(order, order.total)
            outcomes.append("paid")
        except ApiError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for thread in threads:
        thread.start()
    join_all(threads)

    assert sorted(outcomes) == ["order_unexpected_state", "paid"]
    stored = Order.objects.get(id=order.id)
    assert (stored.status, stored.amount_paid) == ("paid", order.total)
    assert Event.objects.filter(type="order.paid").count() == 1


@pytest.mark.django_db(transaction=True)
def test_cancel_racing_a_payment_leaves_one_consistent_outcome(merchant):
    order = OrderFactory(merchant=merchant)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def run(name, action):
        try:
            barrier.wait(timeout=WAIT_SECONDS)
            action()
            outcomes[name] = "ok"
        except ApiError as exc:
            outcomes[name] = exc.code
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=("pay", lambda: _pay(order, order.total))),
        threading.Thread(
            target=run, args=("cancel", lambda: services.order_cancel(merchant_id=merchant.id, order_id=order.id))
        ),
    ]
    for thread in threads:
        thread.start()
    join_all(threads)

    stored = Order.objects.get(id=order.id)
    assert sorted(outcomes.values()) == ["ok", "order_unexpected_state"]
    if outcomes["pay"] == "ok":
        assert (stored.status, stored.amount_paid) == ("paid", order.total)
    else:
        assert (stored.status, stored.amount_paid) == ("canceled", 0)


def test_database_refuses_inconsistent_amounts(merchant):
    """A last line of defence: even a direct write cannot make the totals lie."""
    from django.db import IntegrityError

    order = OrderFactory(merchant=merchant)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(id=order.id).update(total=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(id=order.id).update(amount_paid=order.total + 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(id=order.id).update(amount_refunded=1)
