"""Test doubles for external services.

``FakeDiscord`` is a local Discord (REST API v10 + gateway) that a real discord.py bot can
connect to; ``start_bot`` runs a bot against it.  See ``tests.fakes.discord_api``.
"""

from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_fixtures import start_bot
from tests.fakes.discord_interactions import InteractionHandle, MessageHandle
from tests.fakes.discord_messages import ApiError
from tests.fakes.discord_models import (
    FakeChannel,
    FakeMember,
    FakeRole,
    FakeUser,
    InteractionCallback,
    RecordedRequest,
    StoredAttachment,
    StoredMessage,
)

__all__ = [
    "ApiError",
    "FakeChannel",
    "FakeDiscord",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "InteractionCallback",
    "InteractionHandle",
    "MessageHandle",
    "RecordedRequest",
    "StoredAttachment",
    "StoredMessage",
    "start_bot",
]
