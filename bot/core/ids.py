"""Job ids and callback secrets."""

from __future__ import annotations

import base64
import hashlib
import secrets


def new_job_id() -> str:
    """8 characters of base32 (40 random bits): short to type, safe in URLs and paths."""
    return base64.b32encode(secrets.token_bytes(5)).decode("ascii").lower()


def new_callback_secret() -> tuple[str, str]:
    """A fresh unguessable secret for a callback URL, and the key stored to find it by."""
    secret = secrets.token_urlsafe(32)
    return secret, callback_key(secret)


def callback_key(secret: str) -> str:
    """The non-secret lookup key: sha256 of the secret (the secret itself is never stored)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
