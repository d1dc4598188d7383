from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from gateway.models import IdempotencyKey
from gateway.tasks import idempotency_keys_purge
from gateway_project.celery import app
from tests.waiting import wait_until


def test_tasks_are_json_and_acked_late():
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert "idempotency-keys-purge" in settings.CELERY_BEAT_SCHEDULE


@pytest.mark.slow
def test_a_real_worker_runs_the_purge_task_over_the_broker(celery_worker, merchant_keys):
    # Given an expired and a fresh idempotency key
    for key, age in (("old", 25), ("new", 1)):
        row = IdempotencyKey.objects.create(
            merchant_id=merchant_keys.merchant_id,
            scope="test:secret",
            key=key,
            request_method="POST",
            request_path="/v1/x",
            request_fingerprint="f",
            response_status=200,
        )
        IdempotencyKey.objects.filter(pk=row.pk).update(created=timezone.now() - timedelta(hours=age))
    # When the task is sent through the broker to the worker process
    result = idempotency_keys_purge.delay()
    assert result.id
    # Then the worker deletes only the expired key
    wait_until(lambda: not IdempotencyKey.objects.filter(key="old").exists(), message="expired key purged")
    celery_worker.wait_idle()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    assert "idempotency_keys_purge" in celery_worker.log_path.read_text()


RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.mark.slow
@pytest.mark.parametrize("celery_broker_url", [RABBITMQ_URL], indirect=True)
def test_the_worker_also_runs_on_rabbitmq(celery_worker, merchant_keys, celery_queue_name):
    from celery import Celery

    row = IdempotencyKey.objects.create(
        merchant_id=merchant_keys.merchant_id,
        scope="test:secret",
        key="old",
        request_method="POST",
        request_path="/v1/x",
        request_fingerprint="f",
        response_status=200,
    )
    IdempotencyKey.objects.filter(pk=row.pk).update(created=timezone.now() - timedelta(hours=25))
    producer = Celery(broker=RABBITMQ_URL, set_as_current=False)  # shared tasks must keep our app
    producer.send_task("gateway.tasks.idempotency_keys_purge", queue=celery_queue_name)
    wait_until(lambda: not IdempotencyKey.objects.exists(), message="expired key purged")
    assert "amqp://guest:**@127.0.0.1:5672//" in celery_worker.log_path.read_text()
