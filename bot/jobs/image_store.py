"""Result images on disk between download and delivery, so a restart can still post them.

Layout: ``<db dir>/images/<job id>/<index>.<ext>``, each written to a temporary name,
fsynced and renamed, so a crash leaves either the whole file or none. The directory is
removed once the job is settled. Provider URLs expire (24 h or less), which is why the
bytes are kept rather than re-downloaded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

from bot.core.job import JobImage, StoredImage
from bot.images.validate import MIME_TYPES, sniff_image_type

log = logging.getLogger(__name__)


class ImageStore:
    """Reads and writes job images under one root directory: the ``ResultImageStore`` of
    SQLite, whose one process is the only one that posts them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, job_id: str) -> Path:
        # job ids are base32, so they are safe path components
        if not job_id.isalnum():
            raise ValueError(f"bad job id {job_id!r}")
        return self.root / job_id

    async def save(self, job_id: str, index: int, data: bytes, url: str | None) -> JobImage | None:
        """Write one image; None when the bytes are not a PNG, JPEG or WebP."""
        kind = sniff_image_type(data)
        if kind is None:
            log.warning("job %s: image %d is not a usable image; dropped", job_id, index)
            return None
        filename = f"{index}.{'jpg' if kind == 'jpeg' else kind}"
        await asyncio.to_thread(self._write, self._dir(job_id), filename, data)
        return JobImage(
            index=index, url=url, filename=filename, content_type=MIME_TYPES[kind], size=len(data)
        )

    @staticmethod
    def _write(directory: Path, filename: str, data: bytes) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{filename}.tmp"
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(directory / filename)

    async def load(self, job_id: str, image: JobImage) -> StoredImage | None:
        """The image's bytes, or None when the file is gone."""
        if image.filename is None or image.content_type is None:
            return None
        path = self._dir(job_id) / image.filename
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            log.warning("job %s: stored image %s is missing", job_id, image.filename)
            return None
        return StoredImage(image.index, f"{job_id}-{image.filename}", image.content_type, data)

    async def sweep(self, keep: set[str]) -> list[str]:
        """Delete the images of every job not in ``keep`` (left by a stop between a job's
        settlement and the removal of its files); the ids of the jobs swept."""
        return await asyncio.to_thread(self._sweep, keep)

    def _sweep(self, keep: set[str]) -> list[str]:
        try:
            entries = list(self.root.iterdir())
        except FileNotFoundError:
            return []
        swept = []
        for entry in entries:
            if entry.is_dir() and entry.name.isalnum() and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)
                swept.append(entry.name)
        return sorted(swept)

    async def discard(self, job_id: str) -> None:
        """Delete the job's images (after delivery, failure or cancel)."""
        await asyncio.to_thread(shutil.rmtree, self._dir(job_id), True)
