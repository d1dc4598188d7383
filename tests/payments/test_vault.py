"""The encryption keyring (gateway.crypto) and the card vault built on it (payments.vault)."""

import base64
import json
import logging
import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from gateway import crypto
from gateway_project.settings import app_vault
from payments.vault import card_decrypt, card_encrypt, card_fingerprint, card_reencrypt

PAN = "4242424242424242"


def new_key(kid: str) -> str:
    return f"{kid}:{base64.urlsafe_b64encode(os.urandom(32)).rstrip(b'=').decode()}"


K1, K2 = new_key("k1"), new_key("k2")
HMAC_A = "a" * 40
HMAC_B = "b" * 40


def keys(*entries: str, hmac_key: str | None = HMAC_A):
    return override_settings(ENCRYPTION_KEYS=list(entries), HMAC_KEY=hmac_key)


# --- keyring ---------------------------------------------------------------------------------


def test_round_trip_and_token_format():
    with keys(K1):
        token = crypto.encrypt(b"secret data", purpose="test")

        assert token.startswith("v1.k1.")
        assert b"secret" not in base64.urlsafe_b64decode(token.split(".")[2] + "==")
        assert crypto.decrypt(token, purpose="test") == b"secret data"


def test_same_plaintext_encrypts_differently_each_time():
    with keys(K1):
        assert crypto.encrypt(b"x", purpose="test") != crypto.encrypt(b"x", purpose="test")


def test_purpose_is_bound_to_the_ciphertext():
    with keys(K1):
        token = crypto.encrypt(b"x", purpose="card")

        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(token, purpose="processor_credentials")


@pytest.mark.parametrize("position", [10, -1, -5])
def test_tampered_token_is_rejected(position):
    with keys(K1):
        token = crypto.encrypt(b"payload", purpose="test")
        index = position % len(token)
        # Flip the character's highest bit: its lowest bits may be base64 padding, which decodes the
        # same (flipping "B" to "A" at the end changed nothing, so the test failed now and then).
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        flipped = token[:index] + alphabet[alphabet.index(token[index]) ^ 32] + token[index + 1 :]

        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(flipped, purpose="test")


def test_relabelling_the_key_id_is_rejected():
    with keys(K1, K2):
        token = crypto.encrypt(b"payload", purpose="test")  # under k2 (active)
        relabelled = token.replace("v1.k2.", "v1.k1.", 1)

        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(relabelled, purpose="test")


@pytest.mark.parametrize("token", ["", "v1", "v1.k1", "v2.k1.AAAA", "v1..AAAA", "v1.k1.!!!!", "v1.k1.AAAA", None, 5])
def test_malformed_tokens_raise_decryption_error(token):
    with keys(K1), pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, purpose="test")


def test_rotation_reencrypts_under_the_newest_key_and_old_key_can_then_be_dropped():
    with keys(K1):
        old = crypto.encrypt(b"payload", purpose="test")
        assert not crypto.needs_reencrypt(old)
        assert crypto.reencrypt(old, purpose="test") == old

    with keys(K1, K2):
        assert crypto.needs_reencrypt(old)
        assert crypto.decrypt(old, purpose="test") == b"payload"  # old key still decrypts
        new = crypto.reencrypt(old, purpose="test")
        assert new.startswith("v1.k2.")
        assert not crypto.needs_reencrypt(new)
        assert crypto.reencrypt(new, purpose="test") == new

    with keys(K2):
        assert crypto.decrypt(new, purpose="test") == b"payload"
        with pytest.raises(crypto.DecryptionError, match="not in the keyring"):
            crypto.decrypt(old, purpose="test")


def test_reencrypt_authenticates_even_when_already_active():
    with keys(K1):
        token = crypto.encrypt(b"payload", purpose="card")
        with pytest.raises(crypto.DecryptionError):
            crypto.reencrypt(token, purpose="other")


def test_keyed_hash_is_deterministic_per_key_and_purpose():
    with keys(K1, hmac_key=HMAC_A):
        first = crypto.keyed_hash("value", purpose="p")
        assert first == crypto.keyed_hash("value", purpose="p")
        assert len(first) == 64 and int(first, 16) >= 0
        assert first != crypto.keyed_hash("value", purpose="q")
        assert first != crypto.keyed_hash("value2", purpose="p")
    with keys(K1, hmac_key=HMAC_B):
        assert crypto.keyed_hash("value", purpose="p") != first


def test_purpose_is_required():
    with keys(K1):
        with pytest.raises(ValueError):
            crypto.encrypt(b"x", purpose="")
        with pytest.raises(ValueError):
            crypto.keyed_hash("x", purpose="")


def test_dev_keys_are_derived_from_secret_key_with_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger="gateway.crypto")
    with override_settings(ENCRYPTION_KEYS=[], HMAC_KEY=None, VAULT_DEV_KEYS_ALLOWED=True, SECRET_KEY="s" * 60):
        token = crypto.encrypt(b"x", purpose="test")
        fingerprint = crypto.keyed_hash("x", purpose="test")

        assert token.startswith("v1.dev.")
        assert crypto.decrypt(token, purpose="test") == b"x"
    assert any("DERIVED FROM SECRET_KEY" in record.getMessage() for record in caplog.records)

    with override_settings(ENCRYPTION_KEYS=[], HMAC_KEY=None, VAULT_DEV_KEYS_ALLOWED=True, SECRET_KEY="t" * 60):
        # Another deployment (another SECRET_KEY) neither reads the token nor shares fingerprints.
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(token, purpose="test")
        assert crypto.keyed_hash("x", purpose="test") != fingerprint


@pytest.mark.parametrize(("encryption_keys", "hmac_key"), [([], HMAC_A), ([K1], None)])
def test_without_dev_keys_missing_keys_refuse_to_work(encryption_keys, hmac_key):
    with (
        override_settings(ENCRYPTION_KEYS=encryption_keys, HMAC_KEY=hmac_key, VAULT_DEV_KEYS_ALLOWED=False),
        pytest.raises(ImproperlyConfigured),
    ):
        crypto.encrypt(b"x", purpose="test")


def test_production_check_requires_both_keys(monkeypatch):
    monkeypatch.setattr(app_vault, "ENCRYPTION_KEYS", [])
    monkeypatch.setattr(app_vault, "HMAC_KEY", HMAC_A)
    with pytest.raises(ImproperlyConfigured, match="ENCRYPTION_KEYS"):
        app_vault.vault_keys_check_production()

    monkeypatch.setattr(app_vault, "ENCRYPTION_KEYS", [K1])
    monkeypatch.setattr(app_vault, "HMAC_KEY", None)
    with pytest.raises(ImproperlyConfigured, match="HMAC_KEY"):
        app_vault.vault_keys_check_production()

    monkeypatch.setattr(app_vault, "HMAC_KEY", HMAC_A)
    app_vault.vault_keys_check_production()


@pytest.mark.parametrize(
    "entries",
    [
        ["nokid"],
        ["bad.kid:" + K1.split(":")[1]],
        ["k1:" + base64.urlsafe_b64encode(os.urandom(16)).decode()],  # AES-128 is refused
        ["k1:%%%notbase64"],
        [K1, K1],
    ],
)
def test_malformed_key_configuration_is_a_startup_error(entries):
    with pytest.raises(ImproperlyConfigured):
        app_vault.vault_keys_parse(entries)


def test_key_configuration_parses_with_or_without_padding():
    raw = os.urandom(32)
    padded = f"a:{base64.urlsafe_b64encode(raw).decode()}"
    unpadded = padded.rstrip("=")

    assert app_vault.vault_keys_parse([padded, f"b{unpadded[1:]}"]) == [("a", raw), ("b", raw)]


# --- card vault --------------------------------------------------------------------------------


def test_card_round_trip_without_cvc():
    with keys(K1):
        token = card_encrypt(number="4242 4242 4242 4242", exp_month=4, exp_year=2031)
        card = card_decrypt(token)

    assert (card.number, card.exp_month, card.exp_year, card.cvc) == (PAN, 4, 2031, None)
    assert PAN not in token


def test_card_token_reveals_nothing_in_clear():
    with keys(K1):
        token = card_encrypt(number=PAN, exp_month=4, exp_year=2031)
    blob = base64.urlsafe_b64decode(token.split(".")[2] + "==")

    assert PAN.encode() not in blob and b"2031" not in blob
    assert PAN not in token


def test_the_vault_never_accepts_a_cvc():
    with pytest.raises(TypeError):
        card_encrypt(number=PAN, exp_month=4, exp_year=2031, cvc="123")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "fields",
    [
        {"number": "4242", "exp_month": 4, "exp_year": 2031},
        {"number": "4242abcd42424242", "exp_month": 4, "exp_year": 2031},
        {"number": PAN, "exp_month": 13, "exp_year": 2031},
        {"number": PAN, "exp_month": "4", "exp_year": 2031},
        {"number": PAN, "exp_month": 4, "exp_year": 31},
    ],
)
def test_card_encrypt_refuses_unvalidated_input(fields):
    with pytest.raises(ValueError):
        card_encrypt(**fields)


def test_card_token_cannot_be_decrypted_as_another_purpose():
    with keys(K1):
        token = card_encrypt(number=PAN, exp_month=4, exp_year=2031)
        assert json.loads(crypto.decrypt(token, purpose="card"))["n"] == PAN
        with pytest.raises(crypto.DecryptionError):
            crypto.decrypt(token, purpose="card_fingerprint")


def test_card_reencrypt_moves_to_the_active_key():
    with keys(K1):
        token = card_encrypt(number=PAN, exp_month=4, exp_year=2031)
    with keys(K1, K2):
        rotated = card_reencrypt(token)
        assert rotated.startswith("v1.k2.")
        assert card_decrypt(rotated).number == PAN


def test_fingerprint_is_stable_per_card_and_deployment():
    with keys(K1, hmac_key=HMAC_A):
        fingerprint = card_fingerprint(PAN)
        assert card_fingerprint("4242 4242 4242 4242") == fingerprint
        assert card_fingerprint("4242-4242-4242-4242") == fingerprint
        assert card_fingerprint("5555555555554444") != fingerprint
        assert len(fingerprint) == 32 and PAN not in fingerprint
    with keys(K2, hmac_key=HMAC_A):
        assert card_fingerprint(PAN) == fingerprint  # encryption key rotation keeps fingerprints
    with keys(K1, hmac_key=HMAC_B):
        assert card_fingerprint(PAN) != fingerprint
