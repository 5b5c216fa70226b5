"""Shared pytest fixtures."""

from tests.fakes.discord_fixtures import discord_endpoints, fake_discord

__all__ = ["discord_endpoints", "fake_discord"]
