"""``/quota``: moderators' tools for allowances, bonus credits, the guild budget and blocks.

Glue only: parse the options, call ``ModerationService`` (one audited transaction per
change), confirm ephemerally, post the record to the mod-log channel. Changes are read by the
next job's reservation, so they apply at once; a job already in flight keeps what it reserved.

Only members with Manage Server may use the group: ``default_member_permissions`` hides it
from the others, and ``interaction_check`` refuses them server-side on every subcommand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from discord import Member, Role, TextChannel, User, app_commands
from discord.ext import commands

from bot.core.errors import RequestValidationError
from bot.core.localizable import N_
from bot.discord import checks
from bot.discord import moderation_render as ui
from bot.discord import usage_render as usage
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.languages import member_texts
from bot.discord.moderation_render import ModAction, Word
from bot.i18n.texts import Texts
from bot.moderation.actions import MAX_REPORT_DAYS, Change, ModerationService

#: what Discord lets a moderator type for ``/quota grant`` (MAX_GRANT, enforced by the
#: domain, is the real ceiling and is named in its refusal)
GRANT_OPTION_LIMIT = 1_000_000
#: what a moderator types to remove a setting ("default" and "none" both work everywhere)
UNSET_WORDS = frozenset({"default", "none", "unset", "off"})

Reason = app_commands.Range[str, 1, 500]
#: what None means, for each kind of setting (catalog messages)
DEFAULT, NONE = N_("default"), N_("none")


def _word(message: str, texts: Texts) -> str:
    return texts._(message)


Target = Member | User
T = TypeVar("T")


class DailySetting(app_commands.Transformer[SeedreamBot]):
    """An images-per-UTC-day number, or a word (``default``/``none``) that removes the setting.

    Autocomplete offers the typed number and the word, so the way back is visible without
    reading any docs.
    """

    def __init__(self, unset: str, meaning: str) -> None:
        self.unset = unset
        self.meaning = meaning

    @property
    def max_value(self) -> int:
        """Longest input Discord lets through (a string option's ``max_length``)."""
        return 10

    async def transform(self, interaction: Interaction, value: str, /) -> int | None:
        """``"12"`` → 12, ``"default"``/``"none"`` → None; anything else is refused.

        The ceiling (``MAX_DAILY_QUOTA``) is the domain's to enforce; this only parses."""
        text = value.strip().casefold()
        if text in UNSET_WORDS:
            return None
        if _ascii_number(text):
            return int(text)
        ceiling = interaction.client.moderation.max_daily_quota
        raise RequestValidationError(
            "daily",
            N_(
                "a whole number of images from 0 to {ceiling}, written with the digits 0-9, "
                "or `{unset}`."
            ),
            ceiling=ceiling,
            unset=self.unset,
        )

    async def autocomplete(  # type: ignore[override]
        self, interaction: Interaction, value: str, /
    ) -> list[app_commands.Choice[str]]:
        """The typed number (if any) and the word that removes the setting."""
        text = str(value).strip()
        ceiling = interaction.client.moderation.max_daily_quota
        texts = member_texts(interaction)
        found: list[app_commands.Choice[str]] = []
        if _ascii_number(text):
            number = min(int(text), ceiling)
            name = (
                texts._("{count} images per day (the most allowed)", count=number)
                if int(text) >= ceiling
                else texts._("{count} images per day", count=number)
            )
            found.append(app_commands.Choice(name=name, value=str(number)))
        if not text or self.unset.startswith(text.casefold()):
            name = f"{self.unset} ({texts._(self.meaning)})"
            found.append(app_commands.Choice(name=name, value=self.unset))
        return found


UserDaily = app_commands.Transform[
    int | None, DailySetting("default", N_("back to role or server allowance"))
]
GuildDaily = app_commands.Transform[int | None, DailySetting("default", N_("the bot's default"))]
RoleDaily = app_commands.Transform[
    int | None, DailySetting("none", N_("remove the role's allowance"))
]
Budget = app_commands.Transform[int | None, DailySetting("none", N_("no cap; 0 pauses generation"))]
#: how a moderator action names the server as its target
THE_SERVER: Word = partial(_word, N_("the server"))


@app_commands.default_permissions(manage_guild=True)
@app_commands.guild_only()
@app_commands.allowed_installs(guilds=True, users=False)
@app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
class QuotaAdmin(
    commands.GroupCog,
    group_name="quota",
    group_description="Moderators: image allowances, bonus credits, budget, blocks, usage",
):
    """The ``/quota`` group."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot
        self.moderation: ModerationService = bot.moderation

    async def interaction_check(self, interaction: Interaction, /) -> bool:  # type: ignore[override]
        """Runs before every subcommand: guild only, Manage Server only."""
        checks.require_moderator(interaction)
        return True

    # ------------------------------------------------------------------ reading

    @app_commands.command(name="show", description="A member's allowance, use, bonus and jobs")
    @app_commands.describe(user="The member")
    async def show(self, interaction: Interaction, user: Target) -> None:
        """Answer ephemerally with the member's quota as the next job would see it."""
        guild_id = checks.require_moderator(interaction)
        status = await self.bot.quotas.status(guild_id, user.id, _role_ids(user))
        jobs = await self.bot.jobs.recent_jobs(guild_id, user.id, limit=ui.RECENT_JOBS)
        await interaction.response.send_message(
            embed=ui.quota_embed(user.mention, status, jobs, member_texts(interaction)),
            ephemeral=True,
        )

    @app_commands.command(name="usage", description="Images used in this server: a chart and a CSV")
    @app_commands.describe(days="How many UTC days, today included")
    async def usage(
        self,
        interaction: Interaction,
        days: app_commands.Range[int, 1, MAX_REPORT_DAYS] = 7,
    ) -> None:
        """Totals, top members and providers: an embed, a PNG chart and a CSV."""
        guild_id = checks.require_moderator(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self.moderation.usage_report(guild_id, days)
        budget = (await self.moderation.overview(guild_id)).settings.daily_budget
        texts = member_texts(interaction)
        files = await usage.usage_files(
            report, texts, budget=budget, names=_member_names(interaction, report.top_users)
        )
        await interaction.followup.send(
            embed=usage.usage_embed(report, texts),
            files=files,
            ephemeral=True,
            allowed_mentions=ui.NO_MENTIONS,
        )

    # ------------------------------------------------------------------ members

    @app_commands.command(name="set", description="Give a member their own daily allowance")
    @app_commands.describe(
        user="The member",
        daily="Images per UTC day, or `default` to remove the member's own allowance",
        reason="Why (kept in the audit log)",
    )
    async def set_(
        self, interaction: Interaction, user: Target, daily: UserDaily, reason: Reason | None = None
    ) -> None:
        """Set or clear the member's override."""
        guild_id = checks.require_moderator(interaction)
        change = await self.moderation.set_user_override(
            guild_id, interaction.user.id, user.id, daily, reason
        )
        await self._record(
            interaction, N_("Daily allowance"), user.mention, change, _per_day(DEFAULT), reason
        )

    @app_commands.command(name="grant", description="Add bonus credits (negative takes them away)")
    @app_commands.describe(
        user="The member",
        amount="Credits to add (up to the operator's MAX_GRANT); a negative number removes them",
        reason="Why (kept in the audit log)",
    )
    async def grant(
        self,
        interaction: Interaction,
        user: Target,
        amount: app_commands.Range[int, -GRANT_OPTION_LIMIT, GRANT_OPTION_LIMIT],
        reason: Reason | None = None,
    ) -> None:
        """Bonus credits never expire and are spent after the daily allowance."""
        guild_id = checks.require_moderator(interaction)
        actor = interaction.user.id
        if amount == 0:
            raise RequestValidationError(
                "amount", N_("must not be 0 (negative takes credits away).")
            )
        if amount > 0:
            change = await self.moderation.grant_bonus(guild_id, actor, user.id, amount, reason)
        else:
            change = await self.moderation.remove_bonus(guild_id, actor, user.id, -amount, reason)
        await self._record(
            interaction, N_("Bonus credits"), user.mention, change, ui.credits, reason
        )

    @app_commands.command(name="reset", description="Set a member's use today back to zero")
    @app_commands.describe(user="The member", reason="Why (kept in the audit log)")
    async def reset(
        self, interaction: Interaction, user: Target, reason: Reason | None = None
    ) -> None:
        """Images held by the member's unfinished jobs stay counted until those jobs end."""
        guild_id = checks.require_moderator(interaction)
        change = await self.moderation.reset_usage(guild_id, interaction.user.id, user.id, reason)
        await self._record(interaction, N_("Used today"), user.mention, change, ui.used, reason)

    @app_commands.command(name="block", description="Stop a member from generating images here")
    @app_commands.describe(user="The member", reason="Why (kept in the audit log)")
    async def block(
        self, interaction: Interaction, user: Target, reason: Reason | None = None
    ) -> None:
        """Jobs already in flight finish; new ones are refused."""
        guild_id = checks.require_moderator(interaction)
        change = await self.moderation.block_user(guild_id, interaction.user.id, user.id, reason)
        await self._record(interaction, N_("Block"), user.mention, change, ui.blocked, reason)

    @app_commands.command(name="unblock", description="Let a blocked member generate again")
    @app_commands.describe(user="The member", reason="Why (kept in the audit log)")
    async def unblock(
        self, interaction: Interaction, user: Target, reason: Reason | None = None
    ) -> None:
        """Lift the block."""
        guild_id = checks.require_moderator(interaction)
        change = await self.moderation.unblock_user(guild_id, interaction.user.id, user.id, reason)
        await self._record(interaction, N_("Block"), user.mention, change, ui.blocked, reason)

    # ------------------------------------------------------------------ server and roles

    @app_commands.command(name="defaults", description="The server's default daily allowance")
    @app_commands.describe(
        daily="Images per UTC day for members without a role or own allowance, or `default`",
        reason="Why (kept in the audit log)",
    )
    async def defaults(
        self, interaction: Interaction, daily: GuildDaily, reason: Reason | None = None
    ) -> None:
        """``default`` goes back to the bot's configured default."""
        guild_id = checks.require_moderator(interaction)
        change = await self.moderation.set_guild_default(
            guild_id, interaction.user.id, daily, reason
        )
        default = self.bot.quotas.default_daily_quota

        def unset(value: int | None, texts: Texts) -> str:
            if value is not None:
                return ui.per_day(value, DEFAULT, texts)
            return texts._("bot default ({count}/day)", count=default)

        await self._record(interaction, N_("Default allowance"), THE_SERVER, change, unset, reason)

    @app_commands.command(name="role", description="A daily allowance for members of a role")
    @app_commands.describe(
        role="The role; members get the best of their roles' allowances",
        daily="Images per UTC day, or `none` to remove the role's allowance",
        reason="Why (kept in the audit log)",
    )
    async def role(
        self, interaction: Interaction, role: Role, daily: RoleDaily, reason: Reason | None = None
    ) -> None:
        """A member's own allowance (``/quota set``) still wins over any role's."""
        guild_id = checks.require_moderator(interaction)
        change = await self.moderation.set_role_allowance(
            guild_id, interaction.user.id, role.id, daily, reason
        )
        await self._record(
            interaction, N_("Role allowance"), role.mention, change, _per_day(NONE), reason
        )

    @app_commands.command(name="budget", description="Cap the images the whole server makes a day")
    @app_commands.describe(
        daily="Images per UTC day for the whole server; `none` removes the cap, 0 pauses",
        reason="Why (kept in the audit log)",
    )
    async def budget(
        self, interaction: Interaction, daily: Budget, reason: Reason | None = None
    ) -> None:
        """Once reached, new jobs are refused until 00:00 UTC; jobs in flight finish."""
        guild_id = checks.require_moderator(interaction)
        change = await self.moderation.set_budget(guild_id, interaction.user.id, daily, reason)
        await self._record(
            interaction, N_("Server budget"), THE_SERVER, change, _per_day(N_("no cap")), reason
        )

    @app_commands.command(name="modlog", description="Where moderator actions are posted")
    @app_commands.describe(
        channel="The channel (leave empty to stop posting)", reason="Why (kept in the audit log)"
    )
    async def modlog(
        self,
        interaction: Interaction,
        channel: TextChannel | None = None,
        reason: Reason | None = None,
    ) -> None:
        """The new channel gets this change as its first record; when turned off, the old one
        gets it as its last."""
        guild_id = checks.require_moderator(interaction)
        new = channel.id if channel is not None else None
        change = await self.moderation.set_modlog_channel(
            guild_id, interaction.user.id, new, reason
        )
        action = ModAction(
            N_("Mod-log channel"),
            interaction.user.id,
            THE_SERVER,
            partial(ui.channel, change.before),
            partial(ui.channel, change.after),
            reason,
            change.audit_id,
            change.changed,
        )
        await ui.reply_and_record(interaction, action, change.after or change.before)

    async def _record(
        self,
        interaction: Interaction,
        title: str,
        target: str | Word,
        change: Change[T],
        word: Callable[[T, Texts], str],
        reason: str | None,
    ) -> None:
        """Confirm the change to the moderator and post it to the mod log."""
        assert interaction.guild_id is not None
        action = ModAction(
            title,
            interaction.user.id,
            target,
            partial(word, change.before),
            partial(word, change.after),
            reason,
            change.audit_id,
            change.changed,
        )
        channel_id = await self.moderation.modlog_channel(interaction.guild_id)
        await ui.reply_and_record(interaction, action, channel_id)


def _ascii_number(text: str) -> bool:
    # str.isdigit() also takes "²", "１２" and "١٢"; only 0-9 is a number here.
    return text.isascii() and text.isdigit()


def _per_day(unset: str) -> Callable[[int | None, Texts], str]:
    return lambda value, texts: ui.per_day(value, unset, texts)


def _member_names(interaction: Interaction, top: Sequence[tuple[int, int]]) -> dict[int, str]:
    """Display names of the members the bot has cached (the chart falls back to ids)."""
    names: dict[int, str] = {}
    for user_id, _ in top:
        member = interaction.guild.get_member(user_id) if interaction.guild else None
        user = member or interaction.client.get_user(user_id)
        if user is not None:
            names[user_id] = user.display_name
    return names


def _role_ids(user: Target) -> list[int]:
    return [role.id for role in user.roles] if isinstance(user, Member) else []


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(QuotaAdmin(bot))
