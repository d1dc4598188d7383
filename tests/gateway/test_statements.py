"""gateway.statements: the hot path's SQL, built once per shape, writes and reads the rows the ORM
would. Each test does the same thing both ways, from the same state, and compares the database
after (every column), so a conversion the helpers skipped (a JSON column, a timestamp, a UUID, a
NULL, an auto-incremented key) shows up as a difference."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import DatabaseError, IntegrityError, OperationalError, connection, connections, transaction
from django.db.models import F
from django.db.models.signals import post_init, post_save, pre_save
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events.models import Event
from gateway.errors import NotFound
from gateway.models import IdempotencyKey
from gateway.statements import LOCK_FOR_NO_KEY_UPDATE, instance_update, row_select, row_update, rows_insert
from payments.locks import payment_lock
from payments.models import AttemptStatus, Payment, PaymentAttempt, PaymentStatus
from sandbox.models import SandboxCharge
from tests.factories import MerchantFactory
from tests.payments.factories import InFlightAttemptFactory, PaymentFactory

pytestmark = pytest.mark.django_db

# Columns the database or the clock fills differently for two rows written a moment apart.
_PER_ROW = {"id", "created", "updated"}


def _columns(model, pk) -> dict:
    return model.objects.filter(pk=pk).values(*[f.attname for f in model._meta.concrete_fields]).get()


_CANCELED_AT = timezone.now() - timedelta(days=1)


def _payment(merchant, **extra) -> Payment:
    return Payment(
        merchant=merchant,
        amount=1999,
        currency="USD",
        status=PaymentStatus.PROCESSING,
        metadata={"order": "A-1", "nested": {"n": 1, "list": [1, "two", None]}},
        next_action={"type": "redirect_to_url", "redirect_to_url": {"url": "https://example.com/3ds"}},
        card_brand="visa",
        card_last4="4242",
        card_exp_month=12,
        card_exp_year=2034,
        canceled_at=_CANCELED_AT,
        **{"last_payment_error": None} | extra,
    )


def test_an_inserted_payment_is_the_row_the_orm_inserts():
    # Given two equal payments
    merchant = MerchantFactory()
    by_orm, by_statement = _payment(merchant), _payment(merchant)
    # When one is saved by the ORM and the other by rows_insert
    by_orm.save(force_insert=True)
    rows_insert([by_statement])
    # Then both rows are equal in every column but the per-row ones, which are set
    orm_row, statement_row = _columns(Payment, by_orm.pk), _columns(Payment, by_statement.pk)
    assert {k: v for k, v in statement_row.items() if k not in _PER_ROW} == {
        k: v for k, v in orm_row.items() if k not in _PER_ROW
    }
    assert statement_row["created"] is not None and statement_row["updated"] is not None
    assert statement_row["created"] == by_statement.created  # auto_now_add stamped on the object too
    assert not by_statement._state.adding and by_statement._state.db == "default"


def test_several_rows_go_in_one_statement_and_come_back_in_order():
    merchant = MerchantFactory()
    events = [
        Event(id=f"evt_{n:026d}", merchant_id=merchant.id, type="payment.created", data={"object": {"n": n}})
        for n in range(3)
    ]
    with CaptureQueriesContext(connection) as queries:
        returned = rows_insert(events, returning=["id", "data"])
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]  # execute wrappers see it
    assert [row[0] for row in returned] == [e.id for e in events]
    assert [row[1] for row in returned] == [{"object": {"n": n}} for n in range(3)]  # converted, as the ORM's
    assert [Event.objects.get(pk=e.id).data for e in events] == [{"object": {"n": n}} for n in range(3)]


def test_an_auto_incremented_key_is_the_databases_and_a_conflict_leaves_the_object_unsaved():
    merchant = MerchantFactory()
    columns = {
        "merchant_id": merchant.id,
        "scope": "test:secret",
        "key": "k-1",
        "request_method": "POST",
        "request_path": "/v1/payments",
        "request_fingerprint": "f" * 64,
        "claim_token": uuid.uuid4(),
        "locked_at": timezone.now(),
    }
    first = IdempotencyKey(**columns)
    inserted = rows_insert([first], on_conflict_do_nothing=["merchant_id", "scope", "key"])
    assert inserted == [(first.pk,)] and isinstance(first.pk, int)
    assert IdempotencyKey.objects.get(pk=first.pk).claim_token == columns["claim_token"]

    again = IdempotencyKey(**columns)
    assert rows_insert([again], on_conflict_do_nothing=["merchant_id", "scope", "key"]) == []
    assert again.pk is None and again._state.adding
    assert IdempotencyKey.objects.count() == 1
    with pytest.raises(ValueError, match="database's to assign"):
        rows_insert([IdempotencyKey(pk=123, **columns | {"key": "k-2"})])


def test_a_selected_row_is_the_instance_a_queryset_builds():
    merchant = MerchantFactory()
    payment = _payment(merchant, last_payment_error={"code": "card_declined", "decline_code": "generic_decline"})
    payment.save()
    expected = Payment.objects.get(pk=payment.pk)

    with transaction.atomic():
        selected = row_select(
            Payment, where={"pk": payment.pk, "merchant_id": merchant.id}, lock=LOCK_FOR_NO_KEY_UPDATE
        )

    for field in Payment._meta.concrete_fields:
        assert getattr(selected, field.attname) == getattr(expected, field.attname), field.attname
    assert type(selected.metadata) is dict and type(selected.next_action) is dict
    assert not selected._state.adding and selected._state.db == "default"
    # Another merchant's or mode's payment is not found (the lock helpers' 404).
    assert row_select(Payment, where={"pk": payment.pk, "merchant_id": MerchantFactory().id}) is None
    assert row_select(Payment, where={"pk": payment.pk, "livemode": True}) is None


@pytest.mark.django_db(transaction=True)
def test_a_lock_is_held_until_the_transaction_ends_and_refused_outside_one():
    payment = PaymentFactory()
    with pytest.raises(TransactionManagementError):
        row_select(Payment, where={"pk": payment.pk}, lock=LOCK_FOR_NO_KEY_UPDATE)

    seen: list[str] = []

    def other_connection_tries():
        try:
            with transaction.atomic():
                Payment.objects.select_for_update(nowait=True).filter(pk=payment.pk).first()
            seen.append("locked it")
        except OperationalError:
            seen.append("refused")
        finally:
            connections.close_all()

    with transaction.atomic():
        row_select(Payment, where={"pk": payment.pk}, lock=LOCK_FOR_NO_KEY_UPDATE)
        thread = threading.Thread(target=other_connection_tries)
        thread.start()
        thread.join()
    after = threading.Thread(target=other_connection_tries)
    after.start()
    after.join()
    assert seen == ["refused", "locked it"]


def test_a_conditional_update_changes_the_row_as_the_orm_would_or_nothing():
    by_orm, by_statement = InFlightAttemptFactory(), InFlightAttemptFactory()
    values = {
        "status": AttemptStatus.SUCCEEDED,
        "raw_status": "succeeded",
        "next_sync_at": None,
        "latency_ms": 12,
        "updated": timezone.now(),
    }
    unresolved = (AttemptStatus.STARTED, AttemptStatus.UNKNOWN, AttemptStatus.PENDING)

    orm_changed = PaymentAttempt.objects.filter(pk=by_orm.pk, status__in=unresolved).update(**values)
    changed = row_update(PaymentAttempt, pk=by_statement.pk, values=values, condition={"status": unresolved})

    assert changed == orm_changed == 1
    orm_row, statement_row = _columns(PaymentAttempt, by_orm.pk), _columns(PaymentAttempt, by_statement.pk)
    different = {"id", "payment_id", "merchant_id", "created"}
    assert {k: v for k, v in statement_row.items() if k not in different} == {
        k: v for k, v in orm_row.items() if k not in different
    }
    # Settled now: the same condition matches nothing, and nothing changes.
    assert (
        row_update(PaymentAttempt, pk=by_statement.pk, values={"status": "failed"}, condition={"status": unresolved})
        == 0
    )
    assert PaymentAttempt.objects.get(pk=by_statement.pk).status == AttemptStatus.SUCCEEDED
    # None is IS NULL (as filter(x=None)).
    assert row_update(PaymentAttempt, pk=by_statement.pk, values={"latency_ms": 5}, condition={"flagged_at": None}) == 1
    assert row_update(PaymentAttempt, pk=by_statement.pk, values={"latency_ms": 6}, condition={"latency_ms": None}) == 0


def test_an_instance_update_writes_the_named_columns_stamps_updated_and_refuses_a_missing_row():
    payment = PaymentFactory()
    before = _columns(Payment, payment.pk)
    payment.status, payment.amount_authorized, payment.amount_received = PaymentStatus.SUCCEEDED, 2000, 2000
    payment.description = "not named"

    instance_update(payment, fields={"status", "amount_authorized", "amount_received", "updated"})

    after = _columns(Payment, payment.pk)
    assert (after["status"], after["amount_authorized"], after["amount_received"]) == ("succeeded", 2000, 2000)
    assert after["description"] == before["description"]  # not named: not written
    assert after["updated"] > before["updated"] and after["updated"] == payment.updated
    Payment.objects.filter(pk=payment.pk).delete()
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        instance_update(payment, fields={"status"})


@pytest.mark.parametrize("model", [Payment, PaymentAttempt, IdempotencyKey, Event, SandboxCharge])
def test_no_model_written_here_has_signal_receivers_the_helpers_would_skip(model):
    for signal in (pre_save, post_save, post_init):
        assert not signal.has_listeners(model), (signal, model)


def test_an_expression_or_a_related_object_as_a_value_is_refused_not_written():
    attempt = InFlightAttemptFactory()
    with pytest.raises(TypeError):
        row_update(PaymentAttempt, pk=attempt.pk, values={"sync_attempts": F("sync_attempts") + 1})
    with pytest.raises(TypeError):
        row_update(PaymentAttempt, pk=attempt.pk, values={"status": "failed"}, condition={"payment": attempt.payment})
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == AttemptStatus.STARTED


def test_a_conflict_without_returning_is_told_by_the_row_count_and_an_error_dooms_the_block():
    merchant = MerchantFactory()
    columns = {
        "merchant_id": merchant.id,
        "reference": "att_1",
        "payment_method_type": "card",
        "amount": 100,
        "currency": "USD",
        "capture_requested": True,
    }
    first, again = SandboxCharge(id="sbch_1", **columns), SandboxCharge(id="sbch_2", **columns)
    unique = ["merchant_id", "reference"]

    rows_insert([first], on_conflict_do_nothing=unique)
    assert rows_insert([again], on_conflict_do_nothing=unique) == []
    assert not first._state.adding and again._state.adding
    # As save(): a failed statement caught inside an atomic block marks it for rollback.
    with transaction.atomic():
        with pytest.raises(IntegrityError):
            rows_insert([SandboxCharge(id="sbch_3", **columns)])
        assert transaction.get_connection().needs_rollback


@pytest.mark.parametrize("missing", ["", None])
def test_a_payment_lock_without_an_id_is_a_404_never_any_payment(missing):
    payment = PaymentFactory()
    with transaction.atomic(), pytest.raises(NotFound):
        payment_lock(payment_id=missing, merchant_id=payment.merchant_id)


def test_rows_of_two_models_in_one_insert_are_refused():
    merchant = MerchantFactory()
    with pytest.raises(TypeError):
        rows_insert([_payment(merchant), SandboxCharge(merchant_id=merchant.id, reference="r")])


_PLAIN_SAMPLES = {str: ("", "pay_01abc", "ünïcödé"), int: (0, -7, 1999, 2**40), bool: (True, False)}


def test_a_value_converted_the_short_way_is_what_django_would_have_saved():
    # Given every field of every installed model whose conversion the helpers shorten for plain values
    from django.apps import apps

    from gateway.statements import _passthrough, _save_value

    short = [(f, _passthrough(f)) for m in apps.get_models() for f in m._meta.concrete_fields if _passthrough(f)[0]]
    kinds = {type(f).__name__ for f, _ in short}
    assert kinds >= {"CharField", "BigIntegerField", "PositiveSmallIntegerField", "BooleanField", "ForeignKey"}

    # When each plain value (and None) is converted both ways, then the value and its type agree
    for field, plain in short:
        for value in [None, *(v for t in plain[0] for v in _PLAIN_SAMPLES[t])]:
            django_saved = field.get_db_prep_save(value, connection)
            helper_saved = _save_value(field, plain, value, connection)
            assert (helper_saved, type(helper_saved)) == (django_saved, type(django_saved)), (field, value)


def test_a_value_of_another_type_is_still_converted_by_the_field():
    # Given a payment whose plain-typed columns hold values of other types (a lazy string, a bool for
    # an integer, a float for an integer): the fields' own conversions must still apply
    from django.utils.functional import lazy

    merchant = MerchantFactory()
    payment = _payment(merchant, description=lazy(lambda: "lazy text", str)())
    payment.amount, payment.card_exp_month = True, 12.0

    # When it is inserted by the helper
    rows_insert([payment])

    # Then the row holds what the fields made of them
    row = _columns(Payment, payment.pk)
    assert (row["description"], row["amount"], row["card_exp_month"]) == ("lazy text", 1, 12)
