"""One rule for "moderator" (``bot.discord.checks``): Manage Server, nothing else."""

from __future__ import annotations

import discord
import pytest

from bot.discord.checks import MODERATOR_PERMISSION, is_moderator


@pytest.mark.parametrize(
    ("permissions", "expected"),
    [
        (discord.Permissions(manage_guild=True), True),
        (discord.Permissions(administrator=True), True),  # Discord grants an admin everything
        (discord.Permissions(manage_messages=True), False),
        (discord.Permissions(manage_roles=True, kick_members=True), False),
        (discord.Permissions.none(), False),
    ],
)
def test_a_moderator_has_manage_server(permissions: discord.Permissions, expected: bool) -> None:
    assert is_moderator(permissions) is expected


def test_the_rule_names_the_permission_the_refusal_shows() -> None:
    assert MODERATOR_PERMISSION == "manage_guild"
