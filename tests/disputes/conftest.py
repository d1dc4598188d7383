"""Dispute fixtures: the fake processors (shared with tests/processors) and a spy on the ledger.

``ledger`` records each call ``disputes.books`` makes to the real ledger postings
(``ledger_post_dispute`` / ``ledger_post_dispute_won``) and lets it through, so the tests see the
figures of every posting and the books really receive them."""

import pytest

from tests.processors.conftest import fake_paypal, fake_stripe  # noqa: F401


class LedgerRecorder:
    def __init__(self, withdraw, reinstate):
        self._withdraw, self._reinstate = withdraw, reinstate
        self.withdrawals: list[dict] = []
        self.reinstatements: list[dict] = []

    def withdraw(self, **kwargs):
        self.withdrawals.append(kwargs)
        return self._withdraw(**kwargs)

    def reinstate(self, **kwargs):
        self.reinstatements.append(kwargs)
        return self._reinstate(**kwargs)


@pytest.fixture
def ledger(monkeypatch) -> LedgerRecorder:
    from disputes import books

    recorder = LedgerRecorder(books.ledger_post_dispute, books.ledger_post_dispute_won)
    monkeypatch.setattr(books, "ledger_post_dispute", recorder.withdraw)
    monkeypatch.setattr(books, "ledger_post_dispute_won", recorder.reinstate)
    return recorder
