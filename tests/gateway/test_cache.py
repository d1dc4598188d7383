"""gateway.cache.GenerationalCache, the one cache of API representations (orders, payments,
customers): hits, owner and view in the key, rotation on commit, and a reader racing a change."""

import pytest
from django.db import transaction

from gateway.cache import GenerationalCache

pytestmark = pytest.mark.django_db

CACHE = GenerationalCache(namespace="probe")
OWNER = {"merchant_id": "mer_a", "livemode": False}


def loader(value):
    calls = []

    def load():
        calls.append(value)
        return {"value": value}

    return load, calls


def test_a_second_read_is_served_from_the_cache():
    load, calls = loader("first")
    assert CACHE.read(object_id="obj_1", load=load, **OWNER) == {"value": "first"}

    assert CACHE.read(object_id="obj_1", load=loader("second")[0], **OWNER) == {"value": "first"}
    assert calls == ["first"]


@pytest.mark.parametrize(
    "other", [{"merchant_id": "mer_b", "livemode": False}, {"merchant_id": "mer_a", "livemode": True}]
)
def test_an_entry_is_never_served_to_another_merchant_or_mode(other):
    CACHE.read(object_id="obj_1", load=loader("mer_a test")[0], **OWNER)

    load, calls = loader("asked the database")
    assert CACHE.read(object_id="obj_1", load=load, **other) == {"value": "asked the database"}
    assert calls == ["asked the database"]


def test_views_of_one_object_are_kept_apart_and_invalidated_together(django_capture_on_commit_callbacks):
    CACHE.read(object_id="obj_1", load=loader("api")[0], view="api", **OWNER)
    CACHE.read(object_id="obj_1", load=loader("me")[0], view="me", **OWNER)
    assert CACHE.cached(object_id="obj_1", view="api", **OWNER) == {"value": "api"}
    assert CACHE.cached(object_id="obj_1", view="me", **OWNER) == {"value": "me"}

    with django_capture_on_commit_callbacks(execute=True):
        CACHE.invalidate(object_id="obj_1")

    assert CACHE.cached(object_id="obj_1", view="api", **OWNER) is None
    assert CACHE.cached(object_id="obj_1", view="me", **OWNER) is None


def test_invalidation_takes_effect_when_the_change_commits(django_capture_on_commit_callbacks):
    CACHE.read(object_id="obj_1", load=loader("old")[0], **OWNER)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        CACHE.invalidate(object_id="obj_1")
        # Before the commit the old entry still stands (the change is not visible yet either)
        assert CACHE.cached(object_id="obj_1", **OWNER) == {"value": "old"}
    for callback in callbacks:
        callback()

    assert CACHE.read(object_id="obj_1", load=loader("new")[0], **OWNER) == {"value": "new"}


@pytest.mark.django_db(transaction=True)
def test_a_reader_racing_a_change_cannot_leave_a_stale_entry():
    def stale_load():
        # The reader read the old row; meanwhile a writer commits its change (rotating the token)
        with transaction.atomic():
            CACHE.invalidate(object_id="obj_1")
        return {"value": "stale"}

    assert CACHE.read(object_id="obj_1", load=stale_load, **OWNER) == {"value": "stale"}

    load, calls = loader("fresh")
    assert CACHE.read(object_id="obj_1", load=load, **OWNER) == {"value": "fresh"}
    assert calls == ["fresh"]
