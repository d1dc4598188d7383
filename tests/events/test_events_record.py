"""``events_record``: several events of one transaction in one INSERT, in the order given."""

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from events.models import Event
from events.services import events_record


def test_a_batch_is_one_insert_and_keeps_its_order_by_id(merchant_keys):
    types = [f"payment.t{i:02d}" for i in range(40)]  # 40 events: many share a millisecond

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        recorded = events_record(
            merchant_id=merchant_keys.merchant_id, events=[(t, {"id": "pay_1", "n": i}) for i, t in enumerate(types)]
        )

    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert [e.type for e in recorded] == types
    stored = Event.objects.filter(merchant_id=merchant_keys.merchant_id).order_by("id")
    assert [e.type for e in stored] == types
    assert [e.data["object"]["n"] for e in stored] == list(range(40))
    # no endpoint: written as already scheduled, nothing to fan out
    assert all(e.deliveries_scheduled_at is not None for e in stored)
