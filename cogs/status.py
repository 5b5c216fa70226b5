"""``/status``: one job with its lineage, or my recent jobs and my quota."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import JobNotFoundError
from bot.core.job import Job
from bot.discord import render
from bot.discord.app import Interaction, SeedreamBot
from bot.discord.languages import member_texts
from bot.discord.lineage_render import add_lineage
from cogs._doors import slash_door

RECENT = 5
#: ancestors shown in a job's chain
CHAIN = 10


class Status(commands.Cog):
    """Where my jobs are, and what I have left today."""

    def __init__(self, bot: SeedreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="status", description="Show a job, or your recent jobs and quota")
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    @app_commands.describe(job="A job id (leave empty for your recent jobs and quota)")
    async def status(self, interaction: Interaction, job: str | None = None) -> None:
        """Answer ephemerally from the ledger."""
        member = slash_door(interaction).member
        texts = member_texts(interaction)
        jobs = self.bot.jobs
        if job:
            found = await jobs.get_job_for_user(job.strip().lower(), member.id)
            if found.guild_id != member.guild.id:
                raise JobNotFoundError()
            embed = render.status_embed(
                found,
                texts,
                position=jobs.queue_position(found.id),
                now=discord.utils.utcnow(),
                provider=self.bot.desk.provider_label(found.provider),
                expected=await jobs.expected_seconds(found),
            )
            ancestors = await self._ancestors(found)
            add_lineage(embed, found, ancestors, await jobs.child_jobs(found.id), texts)
        else:
            recent = await jobs.recent_jobs(member.guild.id, member.id, limit=RECENT)
            quota = await self.bot.quotas.status(
                member.guild.id, member.id, [role.id for role in member.roles]
            )
            embed = render.overview_embed(recent, quota, texts)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    async def _ancestors(self, job: Job) -> list[Job]:
        """The job's parent, its parent's parent… (nearest first, at most ``CHAIN``)."""
        chain: list[Job] = []
        parent_id = job.parent_job_id
        while parent_id is not None and len(chain) < CHAIN:
            parent = await self.bot.jobs.get_job(parent_id)
            if parent is None or parent.guild_id != job.guild_id:
                break
            chain.append(parent)
            parent_id = parent.parent_job_id
        return chain

    @status.autocomplete("job")
    async def _job(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        jobs = await self.bot.jobs.recent_jobs(interaction.guild_id, interaction.user.id, limit=25)
        needle = current.strip().lower()
        texts = member_texts(interaction)
        return [
            app_commands.Choice(
                name=f"{job.id} · {render.progress_line(job, texts)} · {job.request.prompt[:60]}",
                value=job.id,
            )
            for job in jobs
            if needle in job.id
        ][:25]


async def setup(bot: SeedreamBot) -> None:
    """Load the extension."""
    await bot.add_cog(Status(bot))
