"""/quota and /blocklist through the real bot, the fake Discord and a real SQLite ledger.

Every change is made by a moderator (Manage Server) and checked where a member sees it: in
``/status`` and in the next ``/imagine``. Non-moderators and DMs change nothing.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from bot.core.accounts import AuditEntry, GuildSettings
from bot.discord.usage_chart import SIZE_PX
from bot.moderation.actions import AuditAction
from tests.e2e.harness import World, job_id_in
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_interactions import InteractionHandle
from tests.fakes.discord_models import SEND_MESSAGES, FakeMember, InteractionCallback

Options = dict[str, Any]

QUOTA_SUBCOMMANDS: dict[str, Callable[[FakeDiscord], Options]] = {
    "show": lambda d: {"user": d.user},
    "set": lambda d: {"user": d.user, "daily": "1"},
    "grant": lambda d: {"user": d.user, "amount": 3},
    "reset": lambda d: {"user": d.user},
    "defaults": lambda d: {"daily": "1"},
    "role": lambda d: {"role": d.everyone_role, "daily": "1"},
    "budget": lambda d: {"daily": "0"},
    "usage": lambda d: {"days": 7},
    "block": lambda d: {"user": d.user, "reason": "spam"},
    "unblock": lambda d: {"user": d.user},
    "modlog": lambda d: {"channel": d.channel},
}
BLOCKLIST_SUBCOMMANDS: dict[str, Callable[[FakeDiscord], Options]] = {
    "add": lambda d: {"term": "cat"},
    "remove": lambda d: {"term": "cat"},
    "list": lambda d: {},
}
EVERY_SUBCOMMAND = [(f"quota {name}", make) for name, make in QUOTA_SUBCOMMANDS.items()] + [
    (f"blocklist {name}", make) for name, make in BLOCKLIST_SUBCOMMANDS.items()
]


# ------------------------------------------------------------------ helpers


def moderator(world: World, name: str = "mod") -> FakeMember:
    return world.discord.add_member(name=name, roles=[world.discord.moderator_role])


async def command(
    world: World, name: str, by: Any, /, dm: bool = False, **options: Any
) -> InteractionCallback:
    """Run a slash command as member ``by`` and return its (immediate) answer."""
    handle = await world.discord.slash(name, user=by, options=options, dm=dm)
    return await handle.response()


async def mod_says(world: World, mod: FakeMember, name: str, /, **options: Any) -> str:
    """A moderator command that must succeed; returns its ephemeral confirmation."""
    answer = await command(world, name, mod, **options)
    assert answer.ephemeral
    return answer.content or ""


async def status(world: World, user: Any = None) -> dict[str, str]:
    """The member's own /status overview fields."""
    answer = await command(world, "status", user)
    return {f["name"]: f["value"] for f in answer.embeds[0]["fields"]}


async def imagine(world: World, user: Any = None, prompt: str = "a fox", count: int = 1) -> str:
    """The ephemeral answer to /imagine: a queued job or a refusal."""
    handle = await world.discord.slash(
        "imagine", user=user, options={"prompt": prompt, "count": count}
    )
    await handle.response()
    answer = await handle.followup(0)
    assert answer.ephemeral
    return answer.content


async def audit(world: World) -> list[AuditEntry]:
    assert world.bot is not None
    return await world.bot.moderation.audit_log(world.discord.guild.id)


async def guild_settings(world: World) -> GuildSettings:
    assert world.bot is not None
    return (await world.bot.moderation.overview(world.discord.guild.id)).settings


async def offered_values(handle: InteractionHandle) -> list[str]:
    """The values an autocomplete answer offered."""
    answer = await handle.response()
    assert answer.type == 8
    return [choice["value"] for choice in (answer.data or {})["choices"]]


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed["fields"]}


# ------------------------------------------------------------------ registration and gate


async def test_both_groups_are_hidden_from_members_and_guild_only(world: World) -> None:
    async with world.running():
        registered = {c["name"]: c for c in world.discord.commands()}
    for name, subcommands in (("quota", QUOTA_SUBCOMMANDS), ("blocklist", BLOCKLIST_SUBCOMMANDS)):
        payload = registered[name]
        # discord.py sends the bit field as a number; Discord answers with a string.
        assert str(payload["default_member_permissions"]) == "32"  # Manage Server
        assert payload["contexts"] == [0]  # guild only
        assert payload["dm_permission"] is False
        assert {o["name"] for o in payload["options"]} == set(subcommands)


@pytest.mark.parametrize(
    ("name", "make_options"), EVERY_SUBCOMMAND, ids=[n for n, _ in EVERY_SUBCOMMAND]
)
async def test_a_member_without_manage_server_changes_nothing(
    world: World, name: str, make_options: Callable[[FakeDiscord], Options]
) -> None:
    async with world.running():
        answer = await command(world, name, world.discord.user, **make_options(world.discord))
        assert answer.ephemeral
        assert "Manage Server permission" in (answer.content or "")
        assert not answer.embeds
        assert not answer.files

        assert await audit(world) == []
        assert await guild_settings(world) == GuildSettings(world.discord.guild.id)
        mine = await status(world)
        assert (mine["Left today"], mine["Bonus credits"]) == ("10 of 10", "0")
        assert "Blocked" not in mine
        assert world.channel_messages() == []


@pytest.mark.parametrize("name", ["quota budget", "blocklist list"])
async def test_moderator_commands_are_refused_in_dms(world: World, name: str) -> None:
    async with world.running():
        mod = moderator(world)
        options = dict(EVERY_SUBCOMMAND)[name](world.discord)
        answer = await command(world, name, mod, dm=True, **options)
        assert answer.ephemeral
        assert "only works in a server" in (answer.content or "")
        assert await audit(world) == []


async def test_autocomplete_never_shows_the_blocklist_to_members(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        await mod_says(world, mod, "blocklist add", term="Cat")
        await mod_says(world, mod, "blocklist add", term="dog")
        offered = await world.discord.autocomplete("blocklist remove", "term", "c", user=mod)
        assert await offered_values(offered) == ["cat"]
        member = await world.discord.autocomplete("blocklist remove", "term", "")
        assert await offered_values(member) == []


# ------------------------------------------------------------------ members' allowances


async def test_set_daily_applies_to_the_next_job_and_default_removes_it(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        alice = world.discord.user
        answer = await command(world, "quota set", mod, user=alice, daily="1", reason="trial")
        assert answer.ephemeral
        assert f"<@{alice.id}>: default → 1/day" in (answer.content or "")
        assert (answer.data or {})["allowed_mentions"] == {"parse": []}  # names, never pings
        assert (await status(world))["Left today"] == "1 of 1"

        job_id_in(await imagine(world))
        refusal = await imagine(world)
        assert "used your 1 images" in refusal
        assert world.provider.count("submit") <= 1

        said = await mod_says(world, mod, "quota set", user=alice, daily="DEFAULT")
        assert "1/day → default" in said
        assert (await status(world))["Left today"] == "9 of 10"

        rows = await audit(world)
        assert [(r.action, r.actor_id, r.target_id) for r in rows] == [
            (AuditAction.USER_OVERRIDE, mod.id, alice.id)
        ] * 2
        assert (rows[1].before, rows[1].after, rows[1].reason) == (None, 1, "trial")
        assert (rows[0].before, rows[0].after) == (1, None)


async def test_daily_takes_a_number_or_default_and_autocompletes(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        refusal = await command(world, "quota set", mod, user=world.discord.user, daily="lots")
        assert "`daily`" in (refusal.content or "")
        assert "`default`" in (refusal.content or "")
        assert await audit(world) == []

        empty = await world.discord.autocomplete("quota budget", "daily", "", user=mod, options={})
        assert await offered_values(empty) == ["none"]
        typed = await world.discord.autocomplete(
            "quota set", "daily", "25", user=mod, options={"user": world.discord.user}
        )
        assert await offered_values(typed) == ["25"]


async def test_grant_adds_spendable_bonus_and_never_goes_below_zero(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        alice = world.discord.user
        await mod_says(world, mod, "quota set", user=alice, daily="0")
        said = await mod_says(world, mod, "quota grant", user=alice, amount=3, reason="contest")
        assert "0 credits → 3 credits" in said
        assert (await status(world))["Bonus credits"] == "3"

        job_id = job_id_in(await imagine(world, count=2))
        await world.result(job_id)
        assert (await status(world))["Bonus credits"] == "1"

        said = await mod_says(world, mod, "quota grant", user=alice, amount=-5)
        assert "1 credit → 0 credits" in said
        assert (await status(world))["Bonus credits"] == "0"
        zero = await command(world, "quota grant", mod, user=alice, amount=0)
        assert "`amount`" in (zero.content or "")

        bonus_rows = [r for r in await audit(world) if r.action == AuditAction.BONUS]
        assert [(r.before, r.after) for r in bonus_rows] == [(1, 0), (0, 3)]
        assert bonus_rows[1].reason == "contest"


async def test_reset_gives_todays_allowance_back(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        job_id = job_id_in(await imagine(world, count=3))
        await world.result(job_id)
        assert (await status(world))["Left today"] == "7 of 10"

        said = await mod_says(world, mod, "quota reset", user=world.discord.user)
        assert "3 used → 0 used" in said
        assert (await status(world))["Left today"] == "10 of 10"
        [row] = await audit(world)
        assert (row.action, row.before, row.after) == (AuditAction.RESET_USAGE, 3, 0)


async def test_role_tiers_give_the_best_role_unless_the_member_has_their_own(
    world: World,
) -> None:
    patron = world.discord.add_role("Patron")  # roles exist before the bot's GUILD_CREATE
    vip = world.discord.add_role("VIP")
    bob = world.discord.add_member(name="bob", roles=[patron])
    carol = world.discord.add_member(name="carol", roles=[patron, vip])
    async with world.running():
        mod = moderator(world)

        await mod_says(world, mod, "quota role", role=patron, daily="3")
        said = await mod_says(world, mod, "quota role", role=vip, daily="25")
        assert f"<@&{vip.id}>: none → 25/day" in said
        assert (await status(world, bob))["Left today"] == "3 of 3"
        assert (await status(world, carol))["Left today"] == "25 of 25"
        assert (await status(world))["Left today"] == "10 of 10"

        await mod_says(world, mod, "quota set", user=carol, daily="2")
        assert (await status(world, carol))["Left today"] == "2 of 2"
        shown = await command(world, "quota show", mod, user=bob)
        assert fields(shown.embeds[0])["Allowance"] == f"3/day (role <@&{patron.id}>)"
        shown = await command(world, "quota show", mod, user=carol)
        assert fields(shown.embeds[0])["Allowance"] == "2/day (their own)"

        said = await mod_says(world, mod, "quota role", role=patron, daily="none")
        assert "3/day → none" in said
        assert (await status(world, bob))["Left today"] == "10 of 10"
        rows = [r for r in await audit(world) if r.action == AuditAction.ROLE_ALLOWANCE]
        assert [r.target_id for r in rows] == [patron.id, vip.id, patron.id]


async def test_defaults_apply_to_every_member_without_their_own(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        said = await mod_says(world, mod, "quota defaults", daily="4")
        assert "the server: bot default (10/day) → 4/day" in said
        newcomer = world.discord.add_member(name="newcomer")
        assert (await status(world, newcomer))["Left today"] == "4 of 4"
        await mod_says(world, mod, "quota defaults", daily="default")
        assert (await status(world, newcomer))["Left today"] == "10 of 10"
        assert (await guild_settings(world)).daily_quota is None


async def test_block_refuses_new_jobs_until_unblocked(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        alice = world.discord.user
        said = await mod_says(world, mod, "quota block", user=alice, reason="spam")
        assert "not blocked → blocked" in said
        assert "Blocked" in await status(world)
        assert "blocked from generating" in await imagine(world)
        assert world.provider.count("submit") == 0
        shown = await command(world, "quota show", mod, user=alice)
        assert fields(shown.embeds[0])["Blocked"] == "yes"

        again = await mod_says(world, mod, "quota block", user=alice)
        assert again.startswith("No change")
        await mod_says(world, mod, "quota unblock", user=alice)
        assert "Blocked" not in await status(world)
        job_id_in(await imagine(world))
        rows = await audit(world)
        assert [(r.before, r.after) for r in reversed(rows)] == [
            (False, True),
            (True, True),
            (True, False),
        ]


async def test_show_lists_allowance_use_bonus_and_last_jobs(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        job_id = job_id_in(await imagine(world, prompt="a lighthouse", count=2))
        await world.result(job_id)
        await mod_says(world, mod, "quota grant", user=world.discord.user, amount=4)
        answer = await command(world, "quota show", mod, user=world.discord.user)
        assert answer.ephemeral
        shown = fields(answer.embeds[0])
        assert shown["Allowance"] == "10/day (bot default)"
        assert (shown["Used today"], shown["Left today"]) == ("2", "8")
        assert (shown["Bonus credits"], shown["Blocked"]) == ("4", "no")
        assert job_id in shown["Last jobs"]
        assert "a lighthouse" in shown["Last jobs"]


# ------------------------------------------------------------------ the whole guild


async def test_budget_refuses_new_jobs_clearly_and_charges_nothing(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        bob = world.discord.add_member(name="bob")
        said = await mod_says(world, mod, "quota budget", daily="2")
        assert "no cap → 2/day" in said

        job_id = job_id_in(await imagine(world, count=2))
        refusal = await imagine(world, bob)
        assert "daily budget of 2 images" in refusal
        assert "<t:" in refusal  # when it comes back, in the reader's time zone
        assert (await status(world, bob))["Left today"] == "10 of 10"
        await world.result(job_id)
        assert world.provider.count("submit") == 1

        await mod_says(world, mod, "quota budget", daily="none")
        job_id_in(await imagine(world, bob))
        assert (await guild_settings(world)).daily_budget is None


async def test_budget_zero_pauses_generation(world: World) -> None:
    async with world.running():
        await mod_says(world, moderator(world), "quota budget", daily="0")
        assert "daily budget of 0 images" in await imagine(world)
        assert world.provider.count("submit") == 0


async def test_blocklist_is_whole_word_and_case_insensitive(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        said = await mod_says(world, mod, "blocklist add", term="Cat", reason="no cats")
        assert "||cat||: not listed → listed" in said

        refusal = await imagine(world, prompt="a CAT sat on the mat")
        assert "term this server has blocked" in refusal
        assert "cat" not in refusal.lower()
        assert world.provider.count("submit") == 0
        assert (await status(world))["Left today"] == "10 of 10"
        job_id_in(await imagine(world, prompt="a category of things"))

        listing = await command(world, "blocklist list", mod)
        assert listing.ephemeral
        assert listing.embeds[0]["description"] == "`cat`"
        again = await mod_says(world, mod, "blocklist add", term="  CAT ")
        assert again.startswith("No change")

        said = await mod_says(world, mod, "blocklist remove", term="cat")
        assert "listed → not listed" in said
        job_id_in(await imagine(world, prompt="a CAT sat on the mat"))
        empty = await command(world, "blocklist list", mod)
        assert "None" in empty.embeds[0]["description"]
        rows = await audit(world)
        assert [r.action for r in rows] == [AuditAction.BLOCKLIST] * 3
        assert rows[-1].after == {"term": "cat", "listed": True}
        assert rows[-1].reason == "no cats"


async def test_usage_report_as_embed_chart_and_csv(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        bob = world.discord.add_member(name="bob")
        first = job_id_in(await imagine(world, count=2))
        second = job_id_in(await imagine(world, bob))
        await world.result(first)
        await world.result(second)

        handle = await world.discord.slash("quota usage", user=mod, options={"days": 3})
        await handle.response()  # deferred: the chart is drawn in a thread
        answer = await handle.followup(0)
        assert answer.ephemeral
        embed = answer.embeds[0]
        report = fields(embed)
        assert (report["Images"], report["Jobs"], report["Failed jobs"]) == ("3", "2", "0")
        alice = world.discord.user
        assert report["Top members"].splitlines() == [
            f"1. <@{alice.id}> · 2 images",
            f"2. <@{bob.id}> · 1 image",
        ]
        assert report["By provider"] == "`poyo` · 3 images · 2 jobs · 0 failed"
        assert "last 3 days" in embed["description"]

        chart, upload = answer.attachments
        assert chart.filename.endswith("-3d.png")
        with Image.open(io.BytesIO(chart.data)) as picture:
            assert (picture.format, picture.size) == ("PNG", SIZE_PX)
        assert upload.filename.endswith("-3d.csv")
        rows = list(csv.reader(io.StringIO(upload.data.decode())))
        assert rows[0] == ["section", "key", "images", "jobs", "failed"]
        assert rows[1][0] == "total"
        assert rows[1][2:] == ["3", "2", "0"]
        assert rows[2] == ["provider", "poyo", "3", "2", "0"]
        assert rows[3:] == [
            ["user", str(alice.id), "2", "", ""],
            ["user", str(bob.id), "1", "", ""],
        ]


# ------------------------------------------------------------------ the mod log


async def test_every_change_is_posted_to_the_modlog_channel(world: World) -> None:
    modlog = world.discord.add_channel("mod-log")
    async with world.running():
        mod = moderator(world)
        alice = world.discord.user
        said = await mod_says(world, mod, "quota modlog", channel=modlog)
        assert f"off → <#{modlog.id}>" in said
        await mod_says(world, mod, "quota set", user=alice, daily="1", reason="trial period")
        await mod_says(world, mod, "blocklist add", term="cat")

        posts = await world.wait(lambda: (m := world.discord.messages(modlog))[2:] and m)
        assert all(not p.ephemeral for p in posts)
        titles = [p.embeds[0]["title"] for p in posts]
        assert titles == ["Mod-log channel", "Daily allowance", "Blocked term"]
        record = fields(posts[1].embeds[0])
        assert record["Moderator"] == f"<@{mod.id}>"
        assert record["Target"] == f"<@{alice.id}>"
        assert record["Change"] == "default → 1/day"
        assert record["Reason"] == "trial period"
        rows = await audit(world)
        assert posts[1].embeds[0]["footer"]["text"] == f"Audit #{rows[1].id}"
        assert fields(posts[2].embeds[0])["Target"] == "||cat||"
        assert world.channel_messages() == []  # nothing public outside the mod log

        await mod_says(world, mod, "quota modlog")
        final = await world.wait(lambda: (m := world.discord.messages(modlog))[3:] and m)
        assert fields(final[3].embeds[0])["Change"] == f"<#{modlog.id}> → off"
        await mod_says(world, mod, "quota reset", user=alice)
        await world.discord.settle()
        assert len(world.discord.messages(modlog)) == 4


async def test_a_failed_modlog_post_keeps_the_change_and_says_so(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    modlog = world.discord.add_channel("mod-log")
    async with world.running():
        mod = moderator(world)
        await mod_says(world, mod, "quota modlog", channel=modlog)
        await world.wait(lambda: world.discord.messages(modlog))
        await world.discord.set_channel_permissions(modlog, deny=SEND_MESSAGES)
        with caplog.at_level(logging.WARNING, logger="bot.discord.moderation_render"):
            handle = await world.discord.slash("quota budget", user=mod, options={"daily": "5"})
            assert "no cap → 5/day" in ((await handle.response()).content or "")
            warning = await handle.followup(0)
        assert warning.ephemeral
        assert "could not post it" in warning.content
        assert "mod-log channel" in caplog.text
        assert (await guild_settings(world)).daily_budget == 5
        assert len(world.discord.messages(modlog)) == 1


# ------------------------------------------------------------------ jobs in flight


async def test_changes_leave_a_job_in_flight_intact(world: World) -> None:
    world.provider.script.finish_after = 0.6
    async with world.running():
        mod = moderator(world)
        alice = world.discord.user
        job_id = job_id_in(await imagine(world, count=2))
        await mod_says(world, mod, "quota set", user=alice, daily="0")
        await mod_says(world, mod, "quota reset", user=alice)
        await mod_says(world, mod, "quota block", user=alice)
        await mod_says(world, mod, "quota budget", daily="0")

        result = await world.result(job_id)
        assert len(result.attachments) == 2
        assert fields(result.embeds[0])["Cost"] == "2 images"
        shown = fields((await command(world, "quota show", mod, user=alice)).embeds[0])
        # The reset could not forgive images the running job still held.
        assert (shown["Used today"], shown["Allowance"], shown["Blocked"]) == (
            "2",
            "0/day (their own)",
            "yes",
        )
