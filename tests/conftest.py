"""Shared pytest fixtures."""

from tests.fakes.discord_fixtures import discord_endpoints, fake_discord
from tests.resilience.secrets_capture import secret_watch, secrets_never_leak

__all__ = ["discord_endpoints", "fake_discord", "secret_watch", "secrets_never_leak"]
