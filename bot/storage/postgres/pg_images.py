"""Result images as bytea in PostgreSQL until their job is settled, readable from every host.

A job interrupted on one host (SIGKILL, lost machine) is resumed and delivered by another,
which finds the bytes here rather than on the first host's disk.
"""

from __future__ import annotations

import logging

from bot.core.job import JobImage, StoredImage
from bot.core.states import JobState
from bot.images.validate import MIME_TYPES, sniff_image_type
from bot.storage.postgres.pg_pool import Conn, Pool, read, transact

log = logging.getLogger(__name__)
_FINISHED = [s.value for s in JobState if s.finished]


class PgImageStore:
    """``ResultImageStore`` on the ``image_blobs`` table."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def save(self, job_id: str, index: int, data: bytes, url: str | None) -> JobImage | None:
        """Store one image; None when the bytes are not a PNG, JPEG or WebP."""
        kind = sniff_image_type(data)
        if kind is None:
            log.warning("job %s: image %d is not a usable image; dropped", job_id, index)
            return None
        filename = f"{index}.{'jpg' if kind == 'jpeg' else kind}"
        content_type = MIME_TYPES[kind]

        async def save(conn: Conn) -> None:
            await conn.execute(
                "INSERT INTO image_blobs (job_id, idx, filename, content_type, data) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (job_id, idx) DO UPDATE SET "
                "filename = excluded.filename, content_type = excluded.content_type, "
                "data = excluded.data",
                (job_id, index, filename, content_type, data),
            )

        await transact(self._pool, save)
        return JobImage(
            index=index, url=url, filename=filename, content_type=content_type, size=len(data)
        )

    async def load(self, job_id: str, image: JobImage) -> StoredImage | None:
        """The image's bytes, or None when they are gone."""
        if image.filename is None or image.content_type is None:
            return None

        async def load(conn: Conn) -> bytes | None:
            cursor = await conn.execute(
                "SELECT data FROM image_blobs WHERE job_id = %s AND idx = %s",
                (job_id, image.index),
            )
            row = await cursor.fetchone()
            return None if row is None else bytes(row[0])

        data = await read(self._pool, load)
        if data is None:
            log.warning("job %s: stored image %s is missing", job_id, image.filename)
            return None
        return StoredImage(image.index, f"{job_id}-{image.filename}", image.content_type, data)

    async def discard(self, job_id: str) -> None:
        """Delete the job's images (after delivery, failure or cancel)."""

        async def discard(conn: Conn) -> None:
            await conn.execute("DELETE FROM image_blobs WHERE job_id = %s", (job_id,))

        await transact(self._pool, discard)

    async def sweep(self, keep: set[str]) -> list[str]:
        """Delete the images of settled jobs not in ``keep``; the ids of the jobs swept.

        Only settled jobs: another process may be saving the images of a job it has just
        created, which ``keep`` (read a moment earlier) does not know yet.
        """

        async def sweep(conn: Conn) -> list[str]:
            cursor = await conn.execute(
                "DELETE FROM image_blobs b USING jobs j WHERE b.job_id = j.id "
                "AND j.state = ANY(%s) AND NOT (b.job_id = ANY(%s)) RETURNING b.job_id",
                (_FINISHED, sorted(keep)),
            )
            return sorted({str(row[0]) for row in await cursor.fetchall()})

        return await transact(self._pool, sweep)
