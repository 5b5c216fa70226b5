"""Procrastinate's tables, installed once per database under the migrations' advisory lock."""

from __future__ import annotations

import logging

from procrastinate.schema import SchemaManager

from bot.storage.postgres.pg_pool import MIGRATION_LOCK, connect

log = logging.getLogger(__name__)


async def install_procrastinate_schema(url: str) -> bool:
    """Apply procrastinate's schema unless the database has it; True when it was applied.

    Held under the same advisory lock as the bot's migrations, so processes starting
    together install it once.
    """
    async with await connect(url) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
            row = await cursor.fetchone()
            if row is not None and row[0]:
                return False
            async with conn.transaction():
                await conn.execute(SchemaManager.get_schema())
            log.info("installed procrastinate's schema")
            return True
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
