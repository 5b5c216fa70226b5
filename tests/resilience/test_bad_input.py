"""Bad input through every door of the real bot: each is refused with a clear ephemeral message,
charges nothing, changes nothing in the database and shows no traceback.

One bot serves the whole module (starting one per case would cost more than the cases), so
every case leaves the world as it found it; the snapshot comparison proves it did.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.jobs.waiting import PollSchedule
from tests.e2e.harness import (
    PROVIDER_KEY,
    World,
    answer_modal,
    fast_engine,
    job_id_in,
    make_settings,
)
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_interactions import InteractionHandle
from tests.fakes.discord_models import FakeMember, StoredMessage
from tests.providers.fakes import FakeProvider, Script, make_image
from tests.resilience.support import query, snapshot

pytestmark = pytest.mark.asyncio(loop_scope="module")

BLOCKED_TERM = "forbiddenword"
TIMEOUT = 10.0
#: quick at first (the bench's own jobs finish in 0.05 s), then every 30 s
STRETCHING_POLLS = PollSchedule(first=0.05, interval=0.1, growth=2.0, max_interval=30.0)


@dataclass
class Reply:
    """What the member saw: the text (content and embeds) and whether only they saw it."""

    text: str
    ephemeral: bool


@dataclass
class Bench:
    """The running bot and the cast of the module."""

    world: World
    user: FakeMember
    stranger: FakeMember
    blocked: FakeMember
    broke: FakeMember
    moderator: FakeMember
    waiter: FakeMember | None = None
    running_job: str = ""
    queued_job: str = ""
    my_job: str = ""
    my_result: StoredMessage | None = None
    their_job: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    bot: Any = None

    @property
    def discord(self) -> FakeDiscord:
        return self.world.discord

    @property
    def db(self) -> Path:
        return self.world.settings.database_path


def text_of(content: str | None, embeds: list[dict[str, Any]]) -> str:
    parts = [content or ""]
    for embed in embeds:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f.get('name')}: {f.get('value')}" for f in embed.get("fields", [])]
    return "\n".join(part for part in parts if part)


async def answer(handle: InteractionHandle) -> Reply:
    """The bot's answer to an interaction: its message, or its first follow-up."""
    callback = await handle.response(timeout=TIMEOUT)
    if callback.type == 4:
        return Reply(text_of(callback.content, callback.embeds), callback.ephemeral)
    assert callback.type == 5, f"unexpected callback type {callback.type}"
    followup = await handle.followup(0, timeout=TIMEOUT)
    return Reply(text_of(followup.content, followup.embeds), followup.ephemeral)


def png(name: str = "photo.png") -> tuple[str, bytes, str]:
    return (name, make_image("png"), "image/png")


# ------------------------------------------------------------------------------- the bench


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bench(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bench]:
    tmp_path = tmp_path_factory.mktemp("bad-input")
    async with (
        FakeDiscord(heartbeat_interval_ms=1000) as discord,
        FakeProvider("poyo", api_key=PROVIDER_KEY, script=Script(finish_after=0.05)) as provider,
    ):
        world = World(discord=discord, provider=provider, settings=make_settings(tmp_path))
        bench = Bench(
            world=world,
            user=discord.user,
            stranger=discord.add_member(name="stranger"),
            blocked=discord.add_member(name="blocked"),
            broke=discord.add_member(name="broke"),
            moderator=discord.add_member(name="mod", roles=[discord.moderator_role]),
        )
        bench.waiter = discord.add_member(name="waiter")
        # one job per member at a time; nothing times out while the module runs
        options = fast_engine(deadline=3600.0, poll_schedule=STRETCHING_POLLS)
        async with world.running(engine_options=options, max_jobs_per_user=1) as bot:
            bench.bot = bot
            guild = discord.guild.id
            moderation = bot.moderation
            await moderation.block_user(guild, bench.moderator.id, bench.blocked.id, "tests")
            await moderation.set_user_override(guild, bench.moderator.id, bench.broke.id, 0, None)
            await moderation.add_blocked_term(guild, bench.moderator.id, BLOCKED_TERM, None)
            for who, attr in ((bench.user, "my_job"), (bench.stranger, "their_job")):
                handle = await discord.slash("imagine", user=who, options={"prompt": "a fox"})
                job_id = job_id_in((await handle.followup(0, timeout=TIMEOUT)).content)
                setattr(bench, attr, job_id)
                result = await world.result(job_id)
                if who is bench.user:
                    bench.my_result = result
            await world.wait(lambda: _all_done(bench), TIMEOUT)
            # the waiter's first job runs for ever, the second waits behind it
            provider.script.finish_after = None
            provider.script.states = ("running",)
            for attr in ("running_job", "queued_job"):
                handle = await discord.slash("imagine", user=bench.waiter, options={"prompt": attr})
                setattr(bench, attr, job_id_in((await handle.followup(0, timeout=TIMEOUT)).content))
            await world.wait(lambda: _settled(bench), TIMEOUT)
            bench.extra["photo"] = await discord.user_message(content="my cat", attachments=[png()])
            bench.extra["words"] = await discord.user_message(content="no picture here")
            yield bench


def _all_done(bench: Bench) -> bool:
    return all(row["state"] == "done" for row in query(bench.db, "SELECT state FROM jobs"))


def _settled(bench: Bench) -> bool:
    rows = {row["id"]: row for row in query(bench.db, "SELECT * FROM jobs")}
    running, queued = rows[bench.running_job], rows[bench.queued_job]
    cards = running["card_message_id"] and queued["card_message_id"]
    return bool(cards) and running["state"] == "running" and queued["state"] == "queued"


# ------------------------------------------------------------------------------- the doors

Act = Callable[[Bench], Awaitable[Reply]]


def imagine(options: dict[str, Any], who: str = "user") -> Act:
    async def act(bench: Bench) -> Reply:
        options.setdefault("prompt", "a red fox")
        user = getattr(bench, who)
        return await answer(await bench.discord.slash("imagine", user=user, options=options))

    return act


def edit(prompt: str, *files: tuple[str, bytes, str | None]) -> Act:
    async def act(bench: Bench) -> Reply:
        names = ["image", "image2", "image3", "image4"]
        options: dict[str, Any] = {"prompt": prompt}
        for name, file in zip(names, files, strict=False):
            options[name] = bench.discord.add_attachment(*file)
        return await answer(await bench.discord.slash("edit", options=options))

    return act


def status(job: str | Callable[[Bench], str], who: str = "user") -> Act:
    async def act(bench: Bench) -> Reply:
        value = job(bench) if callable(job) else job
        handle = await bench.discord.slash(
            "status", user=getattr(bench, who), options={"job": value}
        )
        return await answer(handle)

    return act


def reply_to(
    files: Sequence[tuple[str, bytes, str | None]], instruction: str = "make it purple"
) -> Act:
    """Reply to a message (with ``files``) mentioning the bot: the bot answers in the channel."""

    async def act(bench: Bench) -> Reply:
        discord = bench.discord
        original = await discord.user_message(content="look", attachments=files)
        content = f"{discord.bot_mention} {instruction}".strip()
        handle = await discord.user_message(content=content, reference=original.message)
        message = await handle.response(timeout=TIMEOUT)
        return Reply(text_of(message.content, message.embeds), message.ephemeral)

    return act


def mention_without_reply() -> Act:
    async def act(bench: Bench) -> Reply:
        discord = bench.discord
        handle = await discord.user_message(content=f"{discord.bot_mention} make it purple")
        message = await handle.response(timeout=TIMEOUT)
        return Reply(text_of(message.content, message.embeds), message.ephemeral)

    return act


def menu(files: Sequence[tuple[str, bytes, str | None]], instruction: str | None = None) -> Act:
    """The "Edit image" message menu on a message with ``files``; ``instruction`` fills the
    modal when one opens."""

    async def act(bench: Bench) -> Reply:
        discord = bench.discord
        posted = await discord.user_message(content="look", attachments=files)
        opener = await discord.context_menu("Edit image", message=posted.message)
        if instruction is None:
            return await answer(opener)
        return await answer(await answer_modal(bench.world, opener, instruction))

    return act


def click(action: str, who: str, job: str = "my_job") -> Act:
    """Press a button on the job's message (its result, or its card while it runs)."""

    async def act(bench: Bench) -> Reply:
        job_id = getattr(bench, job)
        message = bench.world.card(job_id)
        assert message is not None
        handle = await bench.discord.click(
            message, f"sd:{action}:{job_id}", user=getattr(bench, who)
        )
        return await answer(handle)

    return act


def command(name: str, options: dict[str, Any] | None = None, who: str = "user") -> Act:
    """Any slash command (``name`` may be ``"group sub"``); ``@user`` in options is a member."""

    async def act(bench: Bench) -> Reply:
        resolved = {
            key: (
                getattr(bench, value[1:]) if isinstance(value, str) and value[:1] == "@" else value
            )
            for key, value in (options or {}).items()
        }
        if resolved.get("role") == "moderator_role":
            resolved["role"] = bench.discord.moderator_role
        handle = await bench.discord.slash(name, user=getattr(bench, who), options=resolved)
        return await answer(handle)

    return act


# ------------------------------------------------------------------------------- the cases


Undo = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Case:
    id: str
    act: Act
    expect: str  # a fragment of the refusal (case-insensitive)
    ephemeral: bool = True
    #: changes the world before the "before" snapshot; returns what undoes it afterwards
    prepare: Callable[[Bench], Awaitable[Undo]] | None = None


async def budget_spent(bench: Bench) -> Undo:
    """The server's daily budget at 0 (what a moderator sets to pause generation)."""
    moderation = bench.bot.moderation
    guild, mod = bench.discord.guild.id, bench.moderator.id
    await moderation.set_budget(guild, mod, 0, "tests")
    return lambda: moderation.set_budget(guild, mod, None, "tests")


async def budget_reached(bench: Bench) -> Undo:
    """The server's budget equals what it already used today (the two fixture jobs)."""
    moderation = bench.bot.moderation
    guild, mod = bench.discord.guild.id, bench.moderator.id
    [row] = query(bench.db, "SELECT used FROM guild_usage WHERE guild_id = ?", [guild])
    await moderation.set_budget(guild, mod, int(row["used"]), "tests")
    return lambda: moderation.set_budget(guild, mod, None, "tests")


TEXT = ("notes.txt", b"hello, not an image", "text/plain")
PDF = ("scan.pdf", b"%PDF-1.4 not really", "application/pdf")
HTML_AS_PNG = ("cat.png", b"<!doctype html><html><body>Access denied</body></html>", "image/png")
TRUNCATED = ("cut.png", make_image("png")[:40], "image/png")
EMPTY = ("empty.png", b"", "image/png")
HUGE = ("huge.png", b"\x89PNG\r\n\x1a\n" + bytes(11 * 2**20), "image/png")
GIF = ("anim.gif", b"GIF89a" + bytes(64), "image/gif")
SVG = ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
NOISE_JPG = ("noise.jpg", bytes(range(256)) * 4, None)
ELEVEN = [png(f"ref{i}.png") for i in range(11)]
LONG = "x" * 6001

CASES = [
    # /imagine: prompt
    Case("imagine-empty-prompt", imagine({"prompt": ""}), "prompt"),
    Case("imagine-spaces-prompt", imagine({"prompt": "     "}), "prompt"),
    Case("imagine-whitespace-prompt", imagine({"prompt": "\n\t \u3000"}), "prompt"),
    Case("imagine-6001-chars", imagine({"prompt": LONG}), "prompt"),
    Case("imagine-20000-chars", imagine({"prompt": "y" * 20000}), "prompt"),
    Case("imagine-blocked-term", imagine({"prompt": f"a {BLOCKED_TERM.upper()} cat"}), "blocked"),
    # /imagine: ratio and resolution the model does not offer (any W:H within 1:16-16:1 is)
    Case("imagine-ratio-40:1", imagine({"ratio": "40:1"}), "ratio"),
    Case("imagine-size-word", imagine({"size": "huge"}), "WIDTHxHEIGHT"),
    Case("imagine-size-tiny", imagine({"size": "64x64"}), "3,686,400"),
    Case("imagine-size-and-ratio", imagine({"size": "2560x1440", "ratio": "1:1"}), "not both"),
    Case("imagine-guidance-4.5", imagine({"guidance": 5.0}), "guidance"),
    Case("imagine-ratio-word", imagine({"ratio": "banana"}), "ratio"),
    Case("imagine-ratio-three-parts", imagine({"ratio": "16:9:1"}), "ratio"),
    Case("imagine-ratio-zero", imagine({"ratio": "0:0"}), "ratio"),
    Case("imagine-ratio-negative", imagine({"ratio": "-1:1"}), "ratio"),
    Case("imagine-resolution-8k", imagine({"resolution": "8K"}), "resolution"),
    Case("imagine-resolution-word", imagine({"resolution": "potato"}), "resolution"),
    Case("imagine-unknown-model", imagine({"model": "no-such-model"}), "model"),
    # /imagine: count and seed out of range (Discord enforces ranges in its client only)
    Case("imagine-count-0", imagine({"count": 0}), "count"),
    Case("imagine-count-negative", imagine({"count": -3}), "count"),
    Case("imagine-count-5", imagine({"count": 5}), "count"),
    Case("imagine-count-15", imagine({"count": 15}), "count"),
    Case("imagine-count-16", imagine({"count": 16}), "count"),
    Case("imagine-count-1000", imagine({"count": 1000}), "count"),
    Case("imagine-seed-negative", imagine({"seed": -1}), "seed"),
    Case("imagine-seed-too-big", imagine({"seed": 2**31}), "seed"),
    Case("imagine-v4-seed-negative", imagine({"model": "seedream-4", "seed": -1}), "seed"),
    Case("imagine-v4-seed-too-big", imagine({"model": "seedream-4", "seed": 2**31}), "seed"),
    Case("imagine-v4-resolution", imagine({"model": "seedream-4", "resolution": "8K"}), "8K"),
    # who may not generate
    Case("imagine-blocked-user", imagine({}, who="blocked"), "blocked"),
    Case("imagine-quota-exhausted", imagine({}, who="broke"), "<t:"),
    Case("imagine-budget-zero", imagine({}), "budget", prepare=budget_spent),
    Case("imagine-budget-reached", imagine({}, who="stranger"), "budget", prepare=budget_reached),
    Case("edit-budget-reached", edit("x", png()), "budget", prepare=budget_reached),
    Case("reroll-budget-reached", click("reroll", "user"), "budget", prepare=budget_reached),
    # /edit: attachments
    Case("edit-text-file", edit("x", TEXT), "`notes.txt` is not a PNG, JPEG or WebP image."),
    Case("edit-pdf", edit("x", PDF), "`scan.pdf` is not a PNG, JPEG or WebP image."),
    Case("edit-html-as-png", edit("x", HTML_AS_PNG), "`cat.png`"),
    Case("edit-truncated-png", edit("x", TRUNCATED), "`cut.png` is corrupt or truncated."),
    Case("edit-zero-bytes", edit("x", EMPTY), "`empty.png` is empty."),
    Case("edit-11-mb", edit("x", HUGE), "`huge.png` is 11.0 MB"),
    Case("edit-gif", edit("x", GIF), "`anim.gif` is not a PNG, JPEG or WebP image."),
    Case("edit-svg", edit("x", SVG), "`logo.svg` is not a PNG, JPEG or WebP image."),
    Case("edit-noise-no-type", edit("x", NOISE_JPG), "`noise.jpg`"),
    Case("edit-good-then-text", edit("x", png(), TEXT), "`notes.txt`"),
    Case("edit-good-then-corrupt", edit("x", png(), png("b.png"), TRUNCATED), "`cut.png`"),
    # /edit: prompt
    Case("edit-empty-prompt", edit("", png()), "prompt"),
    Case("edit-spaces-prompt", edit("   ", png()), "prompt"),
    Case("edit-6001-chars", edit(LONG, png()), "prompt"),
    Case("edit-blocked-term", edit(f"add {BLOCKED_TERM}", png()), "blocked"),
    # edit by reply (the bot answers in the channel; a reply can't be ephemeral)
    Case("reply-to-text", reply_to([]), "no image", ephemeral=False),
    Case("reply-no-instruction", reply_to([png()], instruction=""), "reply", ephemeral=False),
    Case("reply-corrupt", reply_to([TRUNCATED]), "`cut.png`", ephemeral=False),
    Case("reply-eleven-images", reply_to(ELEVEN), "at most 10", ephemeral=False),
    Case("reply-6001-chars", reply_to([png()], instruction=LONG), "prompt", ephemeral=False),
    Case("mention-without-reply", mention_without_reply(), "reply", ephemeral=False),
    # the "Edit image" menu
    Case("menu-no-images", menu([]), "no image"),
    Case("menu-only-text-file", menu([TEXT]), "no image"),
    Case("menu-eleven-images", menu(ELEVEN, "make it purple"), "at most 10"),
    Case("menu-corrupt", menu([TRUNCATED], "make it purple"), "`cut.png`"),
    Case("menu-spaces-instruction", menu([png()], "    "), "prompt"),
    # /status
    Case("status-unknown-id", status("zzzzzzzz"), "No such job"),
    Case("status-someone-elses", status(lambda b: b.their_job), "No such job"),
    Case("status-someone-elses-upper", status(lambda b: b.their_job.upper()), "No such job"),
    Case("status-garbage", status("!!!"), "No such job"),
    Case("status-sql", status("' OR 1=1 --"), "No such job"),
    Case("status-very-long", status("a" * 500), "No such job"),
    # buttons pressed by the wrong member
    Case("delete-by-stranger", click("delete", "stranger"), "Only the member"),
    Case("cancel-by-stranger", click("cancel", "stranger", "queued_job"), "No such job"),
    Case("cancel-running-job", click("cancel", "waiter", "running_job"), "already started"),
    Case("status-of-waiters-job", status(lambda b: b.queued_job, "stranger"), "No such job"),
    Case("reroll-by-blocked", click("reroll", "blocked"), "blocked"),
    Case("reroll-without-quota", click("reroll", "broke"), "allowance"),
]

# issue 15: storyboards, styles, prompt options, members' defaults
CASES += [
    Case("storyboard-frames-0", command("storyboard", {"prompt": "x", "frames": 0}), "frames"),
    Case("storyboard-frames-1", command("storyboard", {"prompt": "x", "frames": 1}), "frames"),
    Case("storyboard-frames-16", command("storyboard", {"prompt": "x", "frames": 16}), "frames"),
    Case("storyboard-frames-negative", command("storyboard", {"prompt": "x", "frames": -2}),
         "frames"),
    Case("storyboard-spaces-prompt", command("storyboard", {"prompt": "   ", "frames": 3}),
         "prompt"),
    Case("imagine-unknown-style", imagine({"style": "no-such-style"}), "style"),
    Case("imagine-spaces-prompt-with-style", imagine({"prompt": "   ", "style": "anime"}),
         "prompt"),
    Case("imagine-enhance-unoffered", imagine({"enhance": True}), "enhance"),
    Case("imagine-format-unoffered", imagine({"format": "png"}), "format"),
    Case("settings-count-0", command("settings", {"count": 0}), "count"),
    Case("settings-bad-ratio", command("settings", {"ratio": "40:1"}), "ratio"),
    Case("settings-unknown-model", command("settings", {"model": "nope"}), "model"),
    Case("settings-reset-with-options", command("settings", {"reset": True, "count": 2}),
         "alone"),
    Case("style-add-no-placeholder",
         command("style add", {"name": "x", "template": "plain"}, who="moderator"), "{prompt}"),
    Case("style-add-bad-name",
         command("style add", {"name": "a b!", "template": "{prompt}"}, who="moderator"),
         "style name"),
]  # fmt: skip

NOT_A_MODERATOR = "You need the Manage Server permission"
MODERATOR_COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("quota show", {"user": "@stranger"}),
    ("quota usage", {}),
    ("quota set", {"user": "@stranger", "daily": "50"}),
    ("quota grant", {"user": "@user", "amount": 100}),
    ("quota reset", {"user": "@user"}),
    ("quota block", {"user": "@stranger"}),
    ("quota unblock", {"user": "@blocked"}),
    ("quota defaults", {"daily": "500"}),
    ("quota role", {"role": "moderator_role", "daily": "99"}),
    ("quota budget", {"daily": "0"}),
    ("quota modlog", {}),
    ("blocklist add", {"term": "cat"}),
    ("blocklist remove", {"term": BLOCKED_TERM}),
    ("blocklist list", {}),
    ("style add", {"name": "mine", "template": "{prompt}, mine"}),
    ("style remove", {"name": "mine"}),
]
CASES += [
    Case(f"non-moderator-{name.replace(' ', '-')}", command(name, options), NOT_A_MODERATOR)
    for name, options in MODERATOR_COMMANDS
]
# moderators make typing mistakes too
CASES += [
    Case(
        "mod-grant-zero", command("quota grant", {"user": "@user", "amount": 0}, "moderator"), "0"
    ),
    Case(
        "mod-set-word",
        command("quota set", {"user": "@user", "daily": "lots"}, "moderator"),
        "daily",
    ),
    Case(
        "mod-budget-negative",
        command("quota budget", {"daily": "-5"}, "moderator"),
        "daily",
    ),
    Case(
        "mod-set-too-big",
        command("quota set", {"user": "@user", "daily": "99999999"}, "moderator"),
        "daily",
    ),
]


async def test_there_are_at_least_fifty_cases() -> None:
    assert len(CASES) >= 50
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_bad_input_is_refused_cleanly(
    bench: Bench, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    undo = await case.prepare(bench) if case.prepare is not None else None
    before = snapshot(bench.db)
    submits = bench.world.provider.count("submit")

    reply = await case.act(bench)
    await bench.discord.settle()
    print(f"\n{case.id}: {reply.text[:300]!r}")

    assert case.expect.lower() in reply.text.lower(), reply.text
    assert reply.ephemeral == case.ephemeral
    assert "Traceback" not in reply.text
    assert "Something went wrong" not in reply.text
    after = snapshot(bench.db)
    if undo is not None:
        await undo()
    assert after == before, "a refused request changed the database"
    assert bench.world.provider.count("submit") == submits, "a refused request reached the provider"
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("bot", "cogs", "discord")]
    assert not [r.getMessage() for r in ours if r.levelno >= logging.ERROR]
