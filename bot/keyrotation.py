"""Key rotation (`python -m bot rotate-key`): every stored address and lookup hash re-encrypted
under a new data key, in batches, resumable after an interruption.

How it stays safe: before the first row changes, the new key's check value is written as
`pending` in key_checks, so the bot refuses to start until the rotation is finished (with either
key). Each row is re-encrypted in one UPDATE; a row whose address already opens with the new key
is skipped, so running the command again after a crash continues where it stopped. Only at the
end does the new key's check value replace the old one."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.crypto import AddressVault, key_check_value
from bot.core.settings import SettingsError
from bot.keycheck import KEY_CHECK_NAME, MISMATCH, refuse_weak
from bot.services.retention import TOMBSTONE_PREFIX
from db.engine import checkpoint_wal, make_session_factory
from db.models import KeyCheck, User

log = logging.getLogger(__name__)

BATCH = 200


@dataclass
class RotationResult:
    rewritten: int = 0
    already_done: int = 0
    finished: bool = False


async def rotate_key(engine: AsyncEngine, old_key: bytes, new_key: bytes, *,
                     batch: int = BATCH, stop_after_batches: int | None = None
                     ) -> RotationResult:
    """Re-encrypt every user row from old_key to new_key. stop_after_batches is for the test
    of an interruption: it returns as a crash would, with the rotation unfinished."""
    refuse_weak(new_key)
    if new_key == old_key:
        raise SettingsError("The new key is the same as the old one. Nothing was changed.")
    old_check, new_check = key_check_value(old_key), key_check_value(new_key)
    old, new = AddressVault.from_data_key(old_key), AddressVault.from_data_key(new_key)
    factory = make_session_factory(engine)
    result = RotationResult()
    async with factory() as db, db.begin():
        row = await db.get(KeyCheck, KEY_CHECK_NAME)
        if row is not None and row.value == new_check and row.pending is None:
            result.finished = True  # done before; only the key file may still need its swap
            return result
        if row is not None and (row.value != old_check or row.pending not in (None, new_check)):
            raise SettingsError(MISMATCH)
        if row is None:
            db.add(KeyCheck(name=KEY_CHECK_NAME, value=old_check, pending=new_check))
        else:
            row.pending = new_check
    last_id = ""
    batches = 0
    while True:
        async with factory() as db, db.begin():
            users = list((await db.execute(
                select(User.id, User.channel, User.address_enc, User.lookup_hash)
                .where(User.id > last_id).order_by(User.id).limit(batch))).all())
            for user in users:
                try:
                    new.decrypt(user.channel, user.address_enc)
                    result.already_done += 1  # rewritten before an interruption
                    continue
                except (InvalidTag, ValueError):
                    pass
                address = old.decrypt(user.channel, user.address_enc)
                tombstone = user.lookup_hash.startswith(TOMBSTONE_PREFIX)
                await db.execute(update(User).where(User.id == user.id).values(
                    address_enc=new.encrypt(user.channel, address),
                    lookup_hash=user.lookup_hash if tombstone
                    else new.lookup_hash(user.channel, address)))
                result.rewritten += 1
        if not users:
            break
        last_id = users[-1].id
        batches += 1
        if stop_after_batches is not None and batches >= stop_after_batches:
            return result
    async with factory() as db, db.begin():
        row = await db.get(KeyCheck, KEY_CHECK_NAME)
        assert row is not None
        row.value, row.pending = new_check, None
    await checkpoint_wal(engine)  # the old ciphertexts out of the SQLite WAL too
    result.finished = True
    log.info("key rotation finished: %d rows re-encrypted", result.rewritten)
    return result
