"""Canary helpers: a text typed by a participant must be found nowhere the bot writes."""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest


def new_canary() -> str:
    return "CANARY" + secrets.token_hex(6)


def assert_not_on_disk(canary: str, *roots: Path) -> None:
    """Search every file below the roots (the SQLite file, its WAL, logs) for the canary,
    in UTF-8 and UTF-16 (SQLite may store text as either)."""
    needles = [canary.encode("utf-8"), canary.encode("utf-16-le"), canary.lower().encode()]
    for root in roots:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for needle in needles:
                    assert needle not in data, f"canary found in {path}"


def assert_not_logged(canary: str, caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert canary not in record.getMessage(), f"canary logged by {record.name}"
        assert canary not in str(record.args)
