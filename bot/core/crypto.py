"""Channel addresses at rest: AES-GCM for the address, HMAC-SHA256 for the lookup hash.

Both keys are derived from DATA_KEY with HKDF, so one secret in the environment is enough and a
database file alone tells nobody who uses the bot.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(key)


@dataclass(frozen=True)
class AddressVault:
    enc_key: bytes = field(repr=False)
    mac_key: bytes = field(repr=False)
    _mac: hmac.HMAC = field(init=False, repr=False, compare=False)

    @classmethod
    def from_data_key(cls, data_key: bytes) -> AddressVault:
        if len(data_key) != 32:
            raise ValueError("the data key must be 32 bytes")
        return cls(_derive(data_key, b"wego/address-enc/v1"), _derive(data_key, b"wego/lookup/v1"))

    def __post_init__(self) -> None:
        # The keyed state once: each lookup copies it (twice per update) instead of keying anew.
        object.__setattr__(self, "_mac", hmac.new(self.mac_key, digestmod=hashlib.sha256))

    def lookup_hash(self, channel: str, address: str) -> str:
        mac = self._mac.copy()
        mac.update(f"{channel}\x00{address}".encode())
        return mac.hexdigest()

    def encrypt(self, channel: str, address: str) -> bytes:
        nonce = os.urandom(_NONCE)
        # The channel is bound as associated data: a ciphertext moved to another row's channel fails.
        return nonce + AESGCM(self.enc_key).encrypt(nonce, address.encode(), channel.encode())

    def decrypt(self, channel: str, blob: bytes) -> str:
        return AESGCM(self.enc_key).decrypt(blob[:_NONCE], blob[_NONCE:], channel.encode()).decode()


KEY_CHECK_LABEL = b"WE GO! data key check"
MIN_DISTINCT_KEY_BYTES = 16  # 32 random bytes have ~30 distinct values; under 16 is not random


def key_check_value(data_key: bytes) -> str:
    """A value that tells whether a key is the one the data was encrypted with, and nothing about
    the key: an HMAC of a fixed label under a key derived for this purpose alone."""
    check_key = _derive(data_key, b"wego/key-check/v1")
    return hmac.new(check_key, KEY_CHECK_LABEL, hashlib.sha256).hexdigest()


def weak_key_reason(data_key: bytes) -> str | None:
    """Why a 32-byte key is not random enough (all zero, one repeated byte, few distinct
    bytes: a placeholder or a typed phrase), or None."""
    distinct = len(set(data_key))
    if distinct == 1:
        return "every byte is the same"
    if distinct < MIN_DISTINCT_KEY_BYTES:
        return f"it has only {distinct} different byte values"
    return None


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """Salted scrypt hash for code words and invite codes: `salt$hash`, both hex."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"{salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        salt_hex, _ = stored.split("$", 1)
        candidate = hash_secret(secret, salt=bytes.fromhex(salt_hex))
    except ValueError:
        return False
    return hmac.compare_digest(candidate, stored)
