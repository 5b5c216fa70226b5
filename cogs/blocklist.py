"""``/blocklist``: prompt terms a guild refuses (whole words, in any case or look-alike spelling;
``bot.textmatch``), before anything is charged.

Glue only, like ``/quota``: ``ModerationService`` stores each change with its audit row, the
job reservation checks the list, and only moderators ever see it (the refusal a member gets
never names the term).
"""

from __future__ import annotations

from functools import partial

from discord import app_commands
from discord.ext import commands

from bot.core.localizable import N_
from bot.discord import checks
from bot.discord import moderation_render as ui
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.languages import member_texts
from bot.discord.moderation_render import ModAction
from bot.moderation.actions import MAX_TERM_LENGTH, Change, ModerationService, normalize_term

Term = app_commands.Range[str, 1, MAX_TERM_LENGTH]
Reason = app_commands.Range[str, 1, 500]


@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
@app_commands.allowed_installs(guilds=True, users=False)
@app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
class Blocklist(
    commands.GroupCog,
    group_name="blocklist",
    group_description="Moderators: words and phrases refused in prompts",
):
    """The ``/blocklist`` group."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot
        self.moderation: ModerationService = bot.moderation

    async def interaction_check(self, interaction: Interaction, /) -> bool:  # type: ignore[override]
        """Runs before every subcommand: guild only, Manage Server only."""
        checks.require_moderator(interaction)
        return True

    @app_commands.command(name="add", description="Refuse prompts containing a word or phrase")
    @app_commands.describe(
        term="Whole words; any case, look-alike letters and s.p.l.i.t spellings are caught",
        reason="Why (kept in the audit log)",
    )
    async def add(self, interaction: Interaction, term: Term, reason: Reason | None = None) -> None:
        """Takes effect for the next job; jobs already running are not touched."""
        guild_id = checks.require_moderator(interaction)
        change = await self.moderation.add_blocked_term(guild_id, interaction.user.id, term, reason)
        await self._record(interaction, term, change, reason)

    @app_commands.command(name="remove", description="Allow a blocked word or phrase again")
    @app_commands.describe(term="A listed term", reason="Why (kept in the audit log)")
    async def remove(
        self, interaction: Interaction, term: Term, reason: Reason | None = None
    ) -> None:
        """Unlist the term."""
        guild_id = checks.require_moderator(interaction)
        change = await self.moderation.remove_blocked_term(
            guild_id, interaction.user.id, term, reason
        )
        await self._record(interaction, term, change, reason)

    @remove.autocomplete("term")
    async def _listed(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        # Autocomplete skips command checks: never show the list to anyone else.
        if not checks.moderator_here(interaction) or interaction.guild_id is None:
            return []
        needle = " ".join(current.split()).casefold()
        terms = await self.moderation.blocked_terms(interaction.guild_id)
        return [app_commands.Choice(name=t, value=t) for t in terms if needle in t][:25]

    @app_commands.command(name="list", description="Show the blocked words and phrases")
    async def list_(self, interaction: Interaction) -> None:
        """Ephemeral: the list is for moderators' eyes only."""
        guild_id = checks.require_moderator(interaction)
        terms = await self.moderation.blocked_terms(guild_id)
        embed, file = ui.blocklist_reply(terms, member_texts(interaction))
        if file is None:
            await interaction.response.send_message(embed=embed, ephemeral=True)
        else:
            await interaction.response.send_message(embed=embed, file=file, ephemeral=True)

    async def _record(
        self, interaction: Interaction, term: str, change: Change[bool], reason: str | None
    ) -> None:
        assert interaction.guild_id is not None
        action = ModAction(
            N_("Blocked term"),
            interaction.user.id,
            ui.term(normalize_term(term, matchable=False)),
            partial(ui.listed, change.before),
            partial(ui.listed, change.after),
            reason,
            change.audit_id,
            change.changed,
        )
        channel_id = await self.moderation.modlog_channel(interaction.guild_id)
        await ui.reply_and_record(interaction, action, channel_id)


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(Blocklist(bot))
