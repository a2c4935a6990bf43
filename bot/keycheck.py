"""The data key must match the data (issue 9, item 10): a start with a lost key replaced by a
new one would make every stored address unreadable without a word. The check value lives in the
database (key_checks); it says whether a key is the right one and nothing about the key."""
from __future__ import annotations

import logging

from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.crypto import AddressVault, key_check_value, weak_key_reason
from bot.core.settings import SettingsError
from db.models import KeyCheck, User

log = logging.getLogger(__name__)

KEY_CHECK_NAME = "data_key"


class KeyMismatchError(SettingsError):
    """The key given is not the one the stored addresses were encrypted with."""


MISMATCH = ("DATA_KEY does not match this database: its addresses were encrypted with another "
            "key. Restore the key from your backup (DATA_KEY, or the file DATA_KEY_FILE names); "
            "a new key would make every stored address unreadable. Nothing was changed.")
ROTATING = ("A key rotation was interrupted: run `python -m bot rotate-key` again with the same "
            "keys to finish it before starting the bot. Nothing was changed.")


def refuse_weak(data_key: bytes) -> None:
    weak = weak_key_reason(data_key)
    if weak:
        raise SettingsError(f"DATA_KEY is not a random key ({weak}). Nothing was changed.")


async def verify_data_key(db: AsyncSession, data_key: bytes) -> None:
    """Refuse a weak key, or one that does not match the data; record the check value on the
    first start (after testing the key on a stored address, for a database from before it)."""
    refuse_weak(data_key)
    check = key_check_value(data_key)
    row = await db.get(KeyCheck, KEY_CHECK_NAME)
    if row is not None:
        if row.pending is not None:
            raise SettingsError(ROTATING)
        if row.value != check:
            raise KeyMismatchError(MISMATCH)
        return
    sample = (await db.execute(select(User.channel, User.address_enc).limit(1))).first()
    if sample is not None:
        try:
            AddressVault.from_data_key(data_key).decrypt(sample.channel, sample.address_enc)
        except (InvalidTag, ValueError) as exc:
            raise KeyMismatchError(MISMATCH) from exc
    db.add(KeyCheck(name=KEY_CHECK_NAME, value=check))
    log.info("data key check value recorded")
