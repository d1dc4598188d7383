"""Dispute fixtures: the fake processors (shared with tests/processors) and a ledger stand-in.

The ledger's dispute postings (``ledger_post_dispute`` / ``ledger_post_dispute_won``) are merged
from the reconciliation branch; until then ``disputes.books`` calls whatever is bound to those
names, and these tests bind recorders to see each posting and its figures."""

import pytest

from tests.processors.conftest import fake_paypal, fake_stripe  # noqa: F401


class LedgerRecorder:
    def __init__(self):
        self.withdrawals: list[dict] = []
        self.reinstatements: list[dict] = []

    def withdraw(self, **kwargs):
        self.withdrawals.append(kwargs)

    def reinstate(self, **kwargs):
        self.reinstatements.append(kwargs)


@pytest.fixture
def ledger(monkeypatch) -> LedgerRecorder:
    from disputes import books

    recorder = LedgerRecorder()
    monkeypatch.setattr(books, "ledger_post_dispute", recorder.withdraw)
    monkeypatch.setattr(books, "ledger_post_dispute_won", recorder.reinstate)
    return recorder
