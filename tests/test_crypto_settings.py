"""Addresses at rest, secrets hashing, and settings from the environment."""
from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from bot.core.crypto import AddressVault, hash_secret, verify_secret
from bot.core.settings import Settings, SettingsError


def test_address_encryption_round_trip_and_binding() -> None:
    vault = AddressVault.from_data_key(os.urandom(32))
    blob = vault.encrypt("telegram", "123456789")
    assert b"123456789" not in blob
    assert vault.decrypt("telegram", blob) == "123456789"
    with pytest.raises(InvalidTag):
        vault.decrypt("viber", blob)  # the channel is bound as associated data
    assert vault.encrypt("telegram", "1") != vault.encrypt("telegram", "1")  # random nonces


def test_lookup_hash_is_keyed_and_stable() -> None:
    a, b = AddressVault.from_data_key(b"a" * 32), AddressVault.from_data_key(b"b" * 32)
    assert a.lookup_hash("telegram", "42") == a.lookup_hash("telegram", "42")
    assert a.lookup_hash("telegram", "42") != b.lookup_hash("telegram", "42")
    assert a.lookup_hash("telegram", "42") != a.lookup_hash("viber", "42")


def test_secret_hash_is_salted() -> None:
    first, second = hash_secret("lavender"), hash_secret("lavender")
    assert first != second
    assert verify_secret("lavender", first) and verify_secret("lavender", second)
    assert not verify_secret("Lavender", first)
    assert not verify_secret("x", "garbage")


def test_settings_from_env_and_bad_values(tmp_path: Path) -> None:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    s = Settings.from_env({"DATA_KEY": key, "HTTP_PORT": "9000", "LOG_LEVEL": "debug"},
                          load_dotenv=False)
    assert (s.http_port, s.log_level, len(s.data_key)) == (9000, "DEBUG", 32)
    with pytest.raises(SettingsError, match="HTTP_PORT"):
        Settings.from_env({"DATA_KEY": key, "HTTP_PORT": "eighty"}, load_dotenv=False)
    with pytest.raises(SettingsError, match="32 bytes"):
        Settings.from_env({"DATA_KEY": "c2hvcnQ="}, load_dotenv=False)


def test_trusted_proxies_are_addresses_or_networks() -> None:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    s = Settings.from_env({"DATA_KEY": key, "TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/24"},
                          load_dotenv=False)
    assert s.trusted_proxies == ("127.0.0.1", "10.0.0.0/24")
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        Settings.from_env({"DATA_KEY": key, "TRUSTED_PROXIES": "proxy.local"}, load_dotenv=False)


def test_local_key_is_created_once_with_private_permissions(tmp_path: Path) -> None:
    path = tmp_path / "var" / "data.key"
    env = {"DATA_KEY_FILE": str(path)}
    first = Settings.from_env(env, load_dotenv=False, create_key=True)
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    second = Settings.from_env(env, load_dotenv=False, create_key=True)
    assert first.data_key == second.data_key and len(first.data_key) == 32
    assert "data_key" not in repr(first)  # never printed in a traceback or a log


def test_generated_key_lives_outside_the_database_folder(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    settings = Settings.from_env(env, load_dotenv=False, create_key=True)
    key_file = tmp_path / "config" / "wego-bot" / "data.key"
    assert key_file.exists() and (key_file.stat().st_mode & 0o777) == 0o600
    assert (key_file.parent.stat().st_mode & 0o777) == 0o700
    assert not (tmp_path / "var" / "data.key").exists()
    assert Settings.from_env(env, load_dotenv=False).data_key == settings.data_key
