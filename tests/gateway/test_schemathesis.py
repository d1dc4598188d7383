"""The Schemathesis gate: the API against its own OpenAPI document, over real HTTP to gunicorn.

Schemathesis (pinned in requirements-dev.txt) runs every phase (the schema's examples, boundary
coverage, random fuzzing, and stateful sequences following the schema's links from a created
object to the operations on it) with every check: no 5xx; status codes, content types, headers and
bodies as documented; invalid input refused and valid input not refused for its shape; credentials
not ignored; deleted objects gone. Each operation is called with the credential its security names
(``[auth.openapi.*]``: secret key, publishable key, customer session). Any finding fails the test,
with Schemathesis' report (and a reproducing curl command per finding) in the assertion message.

Bounded: ``MAX_EXAMPLES`` cases per operation and phase, a fixed seed, two workers.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from customers.services import customer_create
from merchants.models import Merchant
from tests.conftest import REQUEST_TIMEOUT_SECONDS, make_merchant_keys
from tests.customers.helpers import DEFAULT_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

MAX_EXAMPLES = 8
SEED = 13

# Rules JSON Schema cannot state (an id that must exist, a state that must allow the action, a
# currency the processor takes, the sandbox declining a card, a key reused with other parameters):
# schema-valid input may still be refused for them, in the documented error shape.
VALID_BUT_REFUSED = [400, 402, 404, 409, 422, 429]

CONFIG = """
seed = {seed}
workers = 2

[generation]
max-examples = {max_examples}

[auth.openapi.secretKey]
bearer = "{secret}"

[auth.openapi.publishableKey]
bearer = "{publishable}"

[auth.openapi.customerToken]
bearer = "{customer}"

[checks.positive_data_acceptance]
expected-statuses = ["2xx", {valid_but_refused}]
"""


def _customer_token(base_url: str, publishable_key: str, merchant_id: str) -> str:
    customer_create(merchant_id=merchant_id, email="fuzzed@example.com", password=DEFAULT_PASSWORD)
    response = requests.post(
        f"{base_url}/v1/auth/login",
        json={"email": "fuzzed@example.com", "password": DEFAULT_PASSWORD},
        headers={"Authorization": f"Bearer {publishable_key}"},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


def test_the_api_conforms_to_its_openapi_schema_under_fuzzing(live_server_gunicorn, tmp_path: Path):
    keys = make_merchant_keys("Fuzzed")
    # The fuzzer is one client sending thousands of requests: its key's token bucket is opened up
    # so cases test the operations, not the limiter (429 stays a documented answer everywhere).
    Merchant.objects.filter(id=keys.merchant_id).update(rate_limit_per_second=10_000, rate_limit_burst=100_000)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG.format(
            seed=SEED,
            max_examples=MAX_EXAMPLES,
            secret=keys.secret_key,
            publishable=keys.publishable_key,
            customer=_customer_token(live_server_gunicorn, keys.publishable_key, keys.merchant_id),
            valid_but_refused=", ".join(f'"{status}"' for status in VALID_BUT_REFUSED),
        )
    )
    st = Path(sys.executable).with_name("st")
    command = [
        str(st),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{live_server_gunicorn}/v1/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--request-timeout",
        str(REQUEST_TIMEOUT_SECONDS),
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
        "--output-truncate",
        "false",
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "",
        "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / f"hyp-{uuid.uuid4().hex}"),
    }

    done = subprocess.run(command, capture_output=True, text=True, timeout=540, env=env, cwd=tmp_path)

    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
