"""Random sequences of postings (and replays) against a simple model of what the books must say."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.selectors import account_balances, ledger_problems, payment_ledger_net, payment_ledger_totals
from ledger.services import LedgerPostingError, ledger_post_capture, ledger_post_refund

pytestmark = pytest.mark.django_db

PAYMENTS = {"pay_jpy": "JPY", "pay_usd": "USD", "pay_kwd": "KWD"}

operations = st.lists(
    st.tuples(
        st.sampled_from(["capture", "refund"]),
        st.sampled_from(sorted(PAYMENTS)),
        st.integers(min_value=1, max_value=5),  # operation reference: small range, so replays happen
        st.integers(min_value=1, max_value=2_000),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_books_follow_the_model_after_every_posting(merchant, ops):
    with transaction.atomic():
        posted: dict[tuple[str, str, int], int] = {}  # (kind, payment, ref) -> amount
        for kind, payment_id, ref, amount in ops:
            currency = PAYMENTS[payment_id]
            captured = sum(a for (k, p, _), a in posted.items() if k == "capture" and p == payment_id)
            refunded = sum(a for (k, p, _), a in posted.items() if k == "refund" and p == payment_id)
            previous = posted.get((kind, payment_id, ref))
            if previous is not None:
                expect_ok = previous == amount  # a replay: same figures return the entry, others are refused
            else:
                expect_ok = kind == "capture" or refunded + amount <= captured

            try:
                with transaction.atomic():
                    if kind == "capture":
                        ledger_post_capture(
                            merchant_id=merchant.id,
                            livemode=False,
                            payment_id=payment_id,
                            capture_ref=f"c{ref}",
                            amount=amount,
                            currency=currency,
                        )
                    else:
                        ledger_post_refund(
                            merchant_id=merchant.id,
                            livemode=False,
                            payment_id=payment_id,
                            refund_id=f"re_{payment_id}_{ref}",
                            amount=amount,
                            currency=currency,
                        )
                outcome = True
            except LedgerPostingError:
                outcome = False
            assert outcome == expect_ok, (kind, payment_id, ref, amount, posted)
            if outcome:
                posted[(kind, payment_id, ref)] = amount

            expected = {}
            for pid, cur in PAYMENTS.items():
                cap = sum(a for (k, p, _), a in posted.items() if k == "capture" and p == pid)
                ref_total = sum(a for (k, p, _), a in posted.items() if k == "refund" and p == pid)
                if cap or ref_total:
                    expected[pid] = (cur, cap, ref_total)
            assert payment_ledger_totals(merchant_id=merchant.id) == expected
            for pid, (cur, cap, ref_total) in expected.items():
                assert payment_ledger_net(payment_id=pid) == {cur: cap - ref_total}
            assert ledger_problems() == []
            for balance in account_balances(merchant_id=merchant.id):
                assert balance.balance >= 0
        transaction.set_rollback(True)
