"""Self-tests: a real discord.py AutoShardedBot runs against FakeDiscord end to end."""

from __future__ import annotations

import asyncio
import gc
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_fixtures import start_bot
from tests.fakes.discord_interactions import (
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    MODAL,
    UPDATE_MESSAGE,
)
from tests.fakes.discord_models import SEND_MESSAGES

PNG = b"\x89PNG\r\n\x1a\n" + b"fake-image-bytes" * 8
MENTION_RE = re.compile(r"^<@!?\d+>\s*")


# --------------------------------------------------------------------------- the test bot


class CounterButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"counter:(?P<count>\d+)"
):
    """A stateless (persistent) button whose state lives in its custom_id."""

    def __init__(self, count: int) -> None:
        super().__init__(discord.ui.Button(label=f"Count {count}", custom_id=f"counter:{count}"))
        self.count = count

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CounterButton:
        return cls(int(match["count"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = interaction.client
        assert isinstance(bot, FakeTestBot)
        bot.clicks.append(self.count + 1)
        view = discord.ui.View(timeout=None)
        view.add_item(CounterButton(self.count + 1))
        await interaction.response.edit_message(content=f"count={self.count + 1}", view=view)


class PingView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.add_item(CounterButton(0))

    @discord.ui.button(label="Again", custom_id="ping:again")
    async def again(
        self, interaction: discord.Interaction, button: discord.ui.Button[PingView]
    ) -> None:
        await interaction.response.send_message("again!", ephemeral=True)


class DescribeModal(discord.ui.Modal, title="Describe this message"):
    description: discord.ui.Label[DescribeModal] = discord.ui.Label(
        text="Description",
        component=discord.ui.TextInput(custom_id="description", max_length=200),
    )
    tags: discord.ui.TextInput[DescribeModal] = discord.ui.TextInput(
        label="Tags", custom_id="tags", required=False
    )

    def __init__(self, target: discord.Message) -> None:
        super().__init__(custom_id="describe", timeout=30)
        self.target = target

    async def on_submit(self, interaction: discord.Interaction) -> None:
        text_input = self.description.component
        assert isinstance(text_input, discord.ui.TextInput)
        await interaction.response.send_message(
            f"{self.target.id}: {text_input.value} [{self.tags.value}]"
        )


class FakeTestBot(commands.AutoShardedBot):
    def __init__(self, intents: discord.Intents | None = None) -> None:
        if intents is None:
            intents = discord.Intents.default()
            intents.guild_messages = True
        super().__init__(
            command_prefix=commands.when_mentioned, intents=intents, guild_ready_timeout=0.1
        )
        self.seen: list[discord.Message] = []
        self.clicks: list[int] = []
        self.errors: list[Exception] = []
        self.release = asyncio.Event()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CounterButton)
        commands_: list[app_commands.Command[Any, ..., Any] | app_commands.Group] = [
            ping,
            imagine,
            image,
            slow,
            pick,
            render,
        ]
        for command in commands_:
            self.tree.add_command(command)
        self.tree.add_command(describe)
        self.tree.add_command(inspect_member)
        self.tree.error(self.on_tree_error)
        await self.tree.sync()

    async def on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        self.errors.append(getattr(error, "original", error))

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        self.seen.append(message)
        if self.user in message.mentions:
            sizes = [len(await a.read()) for a in message.attachments]
            text = MENTION_RE.sub("", message.content)
            await message.reply(f"heard {text!r} with {sizes}")


@app_commands.command(description="Replies with a file, an embed and buttons")
async def ping(interaction: discord.Interaction) -> None:
    embed = discord.Embed(title="pong").set_image(url="attachment://pong.png")
    file = discord.File(io.BytesIO(PNG), filename="pong.png")
    await interaction.response.send_message("pong", embed=embed, file=file, view=PingView())


@app_commands.command(description="Autocomplete demo")
async def imagine(interaction: discord.Interaction, prompt: str, style: str) -> None:
    await interaction.response.send_message(f"{prompt} in {style}")


@imagine.autocomplete("style")
async def style_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    styles = ["anime", "analog film", "watercolor"]
    return [app_commands.Choice(name=s, value=s) for s in styles if s.startswith(current)]


image = app_commands.Group(name="image", description="Image tools")
edit_group = app_commands.Group(name="edit", description="Edit tools", parent=image)


@edit_group.command(name="size", description="Reports the size of an attachment")
async def image_size(
    interaction: discord.Interaction, file: discord.Attachment, scale: float = 1.0
) -> None:
    data = await file.read()
    await interaction.response.defer(thinking=True)
    await interaction.followup.send(f"{file.filename}: {len(data)} bytes x{scale}")


@app_commands.command(description="Defers, waits for the test, then follows up")
async def slow(interaction: discord.Interaction) -> None:
    await interaction.response.defer(thinking=True)
    bot = interaction.client
    assert isinstance(bot, FakeTestBot)
    await bot.release.wait()
    await interaction.followup.send("finally")


@app_commands.context_menu(name="Describe")
async def describe(interaction: discord.Interaction, message: discord.Message) -> None:
    await interaction.response.send_modal(DescribeModal(message))


class PickView(discord.ui.View):
    @discord.ui.select(
        custom_id="pick:fruit", options=[discord.SelectOption(label=f) for f in "abc"]
    )
    async def fruit(
        self, interaction: discord.Interaction, select: discord.ui.Select[PickView]
    ) -> None:
        await interaction.response.send_message(f"fruit={','.join(select.values)}")

    @discord.ui.select(cls=discord.ui.UserSelect, custom_id="pick:user")
    async def who(
        self, interaction: discord.Interaction, select: discord.ui.UserSelect[PickView]
    ) -> None:
        await interaction.response.send_message(f"user={select.values[0].name}")


@app_commands.command(description="Sends select menus")
async def pick(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("pick one", view=PickView(timeout=30))


@app_commands.command(description="Defers, then edits the original response with a file")
async def render(interaction: discord.Interaction) -> None:
    await interaction.response.defer(thinking=True)
    file = discord.File(io.BytesIO(PNG), filename="render.png")
    await interaction.edit_original_response(content="rendered", attachments=[file])


@app_commands.context_menu(name="Inspect")
async def inspect_member(interaction: discord.Interaction, member: discord.Member) -> None:
    await interaction.response.send_message(f"{member.name} has {len(member.roles)} roles")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def fake(fake_discord: FakeDiscord) -> AsyncIterator[FakeDiscord]:
    yield fake_discord
    assert not fake_discord.unhandled


@pytest.fixture
async def bot(fake: FakeDiscord, caplog: pytest.LogCaptureFixture) -> AsyncIterator[FakeTestBot]:
    async with start_bot(FakeTestBot(), fake) as running:
        yield running
    gc.collect()
    await asyncio.sleep(0)
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not leftover


def statuses(fake: FakeDiscord, method: str, pattern: str) -> list[int]:
    return [r.status for r in fake.requests_to(method, pattern)]


# --------------------------------------------------------------------------- tests


async def test_bot_connects_identifies_and_registers_commands(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    assert bot.is_ready()
    assert bot.user is not None
    assert bot.user.id == fake.bot_user.id
    guild = bot.get_guild(fake.guild.id)
    assert guild is not None
    assert guild.me is not None
    assert guild.get_channel(fake.channel.id) is not None
    moderator = guild.get_role(fake.moderator_role.id)
    assert moderator is not None
    assert moderator.permissions.manage_guild
    names = {c["name"] for c in fake.commands()}
    assert names == {"ping", "imagine", "image", "slow", "pick", "render", "Describe", "Inspect"}
    assert fake.gateway.identify_count == 1
    identify = next(f for f in fake.gateway.received if f.op == 2)
    assert identify.d["token"] == "fake-token"
    assert identify.d["shard"] == [0, 1]
    await fake.wait_for(lambda: fake.gateway.heartbeat_count >= 2, timeout=3)


async def test_slash_command_responds_with_file_embed_and_buttons(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    handle = await fake.slash("ping")
    callback = await handle.response()

    assert callback.type == CHANNEL_MESSAGE
    assert callback.content == "pong"
    assert [f.filename for f in callback.files] == ["pong.png"]
    message = handle.original
    assert message is not None
    assert message in fake.messages()
    assert message.attachments[0].data == PNG
    assert message.attachments[0].content_type == "image/png"
    assert message.embeds[0]["image"]["url"] == message.attachments[0].url
    custom_ids = {c.get("custom_id") for c in message.walk_components()}
    assert {"ping:again", "counter:0"} <= custom_ids
    async with aiohttp.ClientSession() as http, http.get(message.attachments[0].url) as resp:
        assert resp.status == 200
        assert await resp.read() == PNG


async def test_channel_message_with_attachment_is_posted_and_edited(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    channel = bot.get_channel(fake.channel.id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("v1", file=discord.File(io.BytesIO(b"one"), "one.txt"))
    stored = fake.message(sent.id)
    assert stored is not None
    assert [a.data for a in stored.attachments] == [b"one"]

    two = discord.File(io.BytesIO(b"two"), "two.txt")
    edited = await sent.edit(content="v2", attachments=[sent.attachments[0], two])
    assert [a.filename for a in edited.attachments] == ["one.txt", "two.txt"]
    assert stored.content == "v2"
    assert [a.data for a in stored.attachments] == [b"one", b"two"]

    final = await edited.edit(attachments=[edited.attachments[1]])
    assert [a.data for a in stored.attachments] == [b"two"]
    assert await final.attachments[0].read() == b"two"


async def test_button_click_reaches_dynamic_item(fake: FakeDiscord, bot: FakeTestBot) -> None:
    ping_handle = await fake.slash("ping")
    await ping_handle.response()
    assert ping_handle.original is not None

    click = await fake.click(ping_handle.original, "counter:0")
    callback = await click.response()

    assert callback.type == UPDATE_MESSAGE
    assert bot.clicks == [1]
    updated = fake.message(ping_handle.original.id)
    assert updated is not None
    assert updated.content == "count=1"
    assert updated.find_component("counter:1") is not None

    again = await fake.click(updated, "counter:1")
    await again.response()
    assert bot.clicks == [1, 2]


async def test_view_button_sends_ephemeral_reply(fake: FakeDiscord, bot: FakeTestBot) -> None:
    ping_handle = await fake.slash("ping")
    await ping_handle.response()
    click = await fake.click(ping_handle.original, "ping:again", user=fake.owner)
    callback = await click.response()
    assert callback.type == CHANNEL_MESSAGE
    assert callback.ephemeral
    assert click.original is not None
    assert click.original.ephemeral
    assert click.original.interaction_metadata is not None
    assert click.original.interaction_metadata["user"]["id"] == str(fake.owner.id)


async def test_context_menu_modal_round_trip(fake: FakeDiscord, bot: FakeTestBot) -> None:
    target = await fake.user_message(content="look at this")
    menu = await fake.context_menu("Describe", message=target.message)
    opened = await menu.response()

    assert opened.type == MODAL
    assert opened.data is not None
    assert opened.data["custom_id"] == "describe"
    assert {c["type"] for c in opened.data["components"]} == {1, 18}  # action row + label

    submit = await fake.submit_modal("describe", {"description": "a cat", "tags": "pets"})
    answer = await submit.response()
    assert answer.type == CHANNEL_MESSAGE
    assert answer.content == f"{target.message.id}: a cat [pets]"


async def test_mention_reaches_on_message_with_attachments(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    sent = await fake.user_message(
        content=f"{fake.bot_mention} draw this",
        attachments=[("ref.png", PNG, "image/png")],
    )
    reply = await sent.response()

    assert reply.content == f"heard 'draw this' with [{len(PNG)}]"
    assert reply.reference_id == sent.message.id
    heard = bot.seen[-1]
    assert heard.content.endswith("draw this")
    assert heard.attachments[0].filename == "ref.png"


async def test_message_content_is_hidden_without_intent_or_mention(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    await fake.user_message(content="secret", attachments=[("x.txt", b"x")])
    seen = await fake.wait_for(lambda: bot.seen)
    assert seen[-1].content == ""
    assert seen[-1].attachments == []


async def test_gateway_drop_leads_to_resume_and_later_dispatches_arrive(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    await fake.drop_gateway()
    queued = await fake.slash("ping")  # sent while disconnected, replayed on RESUME
    await fake.wait_for(lambda: fake.gateway.resume_count == 1)

    assert (await queued.response()).type == CHANNEL_MESSAGE
    assert fake.gateway.identify_count == 1
    assert any(f.op == 6 for f in fake.gateway.received)
    later = await fake.slash("ping")
    assert (await later.response()).type == CHANNEL_MESSAGE


async def test_reconnect_opcode_resumes(fake: FakeDiscord, bot: FakeTestBot) -> None:
    await fake.send_reconnect()
    await fake.wait_for(lambda: fake.gateway.resume_count == 1)
    assert (await (await fake.slash("ping")).response()).type == CHANNEL_MESSAGE


async def test_oversized_uploads_get_413(fake: FakeDiscord, bot: FakeTestBot) -> None:
    handle = await fake.slash("ping", attachment_size_limit=len(PNG) - 1)
    error = await fake.wait_for(lambda: bot.errors)
    assert isinstance(error[0], discord.HTTPException)
    assert (error[0].status, error[0].code) == (413, 40005)
    assert handle.callback is None

    fake.channel.upload_limit = 2
    channel = bot.get_channel(fake.channel.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as excinfo:
        await channel.send(file=discord.File(io.BytesIO(b"abc"), "big.bin"))
    assert (excinfo.value.status, excinfo.value.code) == (413, 40005)


async def test_server_error_is_retried_by_discord_py(fake: FakeDiscord, bot: FakeTestBot) -> None:
    fake.fail_next("POST", r"/channels/\d+/messages", 500)
    channel = bot.get_channel(fake.channel.id)
    assert isinstance(channel, discord.TextChannel)
    message = await channel.send("after a 500")
    assert statuses(fake, "POST", r"/channels/\d+/messages") == [500, 200]
    assert fake.message(message.id) is not None


async def test_rate_limit_is_respected_and_retried(fake: FakeDiscord, bot: FakeTestBot) -> None:
    fake.rate_limit_next("POST", r"/channels/\d+/messages", retry_after=0.05)
    channel = bot.get_channel(fake.channel.id)
    assert isinstance(channel, discord.TextChannel)
    await channel.send("after a 429")
    assert statuses(fake, "POST", r"/channels/\d+/messages") == [429, 200]


async def test_missing_permissions_give_403(fake: FakeDiscord, bot: FakeTestBot) -> None:
    await fake.set_channel_permissions(fake.channel, deny=SEND_MESSAGES)
    channel = bot.get_channel(fake.channel.id)
    assert isinstance(channel, discord.TextChannel)
    await fake.wait_for(lambda: not channel.permissions_for(channel.guild.me).send_messages)
    with pytest.raises(discord.Forbidden) as excinfo:
        await channel.send("nope")
    assert excinfo.value.code == 50013


async def test_expired_token_rejects_followups(fake: FakeDiscord, bot: FakeTestBot) -> None:
    handle = await fake.slash("slow")
    assert (await handle.response()).type == DEFERRED_CHANNEL_MESSAGE
    fake.expire_token(handle)
    bot.release.set()

    errors = await fake.wait_for(lambda: bot.errors)
    assert isinstance(errors[0], discord.NotFound)
    assert errors[0].code == 10015
    assert handle.followups == []


async def test_first_followup_after_defer_edits_loading_message(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    handle = await fake.slash("slow")
    deferred = await handle.response()
    assert deferred.message is not None
    assert deferred.message.loading
    bot.release.set()

    followup = await handle.followup()
    assert followup.id == handle.original_message_id
    assert followup.content == "finally"
    assert not followup.loading


async def test_subcommand_group_with_attachment_option(fake: FakeDiscord, bot: FakeTestBot) -> None:
    upload = fake.add_attachment("input.png", PNG, "image/png")
    handle = await fake.slash("image edit size", options={"file": upload, "scale": 2.0})
    option = handle.data["options"][0]["options"][0]
    assert (option["name"], option["type"]) == ("size", 1)
    assert option["options"][1] == {"name": "scale", "type": 10, "value": 2.0}

    followup = await handle.followup()
    assert followup.content == f"input.png: {len(PNG)} bytes x2.0"


async def test_autocomplete_returns_choices(fake: FakeDiscord, bot: FakeTestBot) -> None:
    handle = await fake.autocomplete("imagine", "style", "an", options={"prompt": "cat"})
    callback = await handle.response()
    assert callback.type == AUTOCOMPLETE_RESULT
    assert callback.data is not None
    assert [c["name"] for c in callback.data["choices"]] == ["anime", "analog film"]


async def test_second_initial_response_is_rejected(fake: FakeDiscord, bot: FakeTestBot) -> None:
    handle = await fake.slash("ping")
    await handle.response()
    url = f"{fake.api_base}/interactions/{handle.id}/{handle.token}/callback"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"type": 4, "data": {"content": "x"}}) as resp:
            assert resp.status == 400
            assert (await resp.json())["code"] == 40060
        fake.expire_token(handle)
        hook = f"{fake.api_base}/webhooks/{fake.application_id}/{handle.token}/messages/@original"
        async with http.get(hook) as resp:
            assert resp.status == 404
            assert (await resp.json())["code"] == 10015


async def test_unknown_routes_are_recorded(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{fake.api_base}/nope") as resp:
        assert resp.status == 404
        assert await resp.json() == {"message": "Unknown", "code": 0}
    assert fake.unhandled == [("GET", "/nope")]
    fake.unhandled.clear()


async def test_select_menus_deliver_values(fake: FakeDiscord, bot: FakeTestBot) -> None:
    menu = await fake.slash("pick")
    await menu.response()
    assert menu.original is not None

    fruit = await fake.click(menu.original, "pick:fruit", values=["b"])
    assert (await fruit.response()).content == "fruit=b"
    member = fake.add_member(name="bob")
    who = await fake.click(menu.original, "pick:user", values=[member])
    assert (await who.response()).content == "user=bob"
    assert who.data["resolved"]["users"][str(member.id)]["username"] == "bob"


async def test_defer_then_edit_original_with_file(fake: FakeDiscord, bot: FakeTestBot) -> None:
    handle = await fake.slash("render")
    assert (await handle.response()).type == DEFERRED_CHANNEL_MESSAGE
    edited = await handle.edit()
    assert edited.content == "rendered"
    assert not edited.loading
    assert [a.data for a in edited.attachments] == [PNG]
    assert handle.followups == []


async def test_slash_command_in_dm(fake: FakeDiscord, bot: FakeTestBot) -> None:
    handle = await fake.slash("ping", dm=True)
    assert (await handle.response()).type == CHANNEL_MESSAGE
    assert "guild_id" not in handle.payload
    assert handle.payload["context"] == 1
    dm = fake.dm_channel(fake.user)
    assert [m.content for m in fake.messages(dm)] == ["pong"]


async def test_user_context_menu(fake: FakeDiscord, bot: FakeTestBot) -> None:
    moderator = fake.add_member(name="mod", roles=["Moderator"])
    handle = await fake.context_menu("Inspect", target_user=moderator)
    assert (await handle.response()).content == "mod has 2 roles"  # @everyone + Moderator


async def test_invalid_message_bodies_are_rejected(fake: FakeDiscord, bot: FakeTestBot) -> None:
    channel = bot.get_channel(fake.channel.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as empty:
        await channel.send()
    assert (empty.value.status, empty.value.code) == (400, 50006)
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    assert "content" in str(too_long.value)
    with pytest.raises(discord.HTTPException) as big_embed:
        await channel.send(embed=discord.Embed(title="t" * 257))
    assert "embeds.0.title" in str(big_embed.value)


async def test_wrong_token_fails_login() -> None:
    async with FakeDiscord(token="right-token") as fake:
        with pytest.raises(discord.LoginFailure):
            async with start_bot(FakeTestBot(), fake, token="wrong-token"):
                pass
        assert fake.gateway.identify_count == 0


async def test_privileged_intents_can_be_refused() -> None:
    async with FakeDiscord(allowed_privileged_intents=0) as fake:
        with pytest.raises(discord.PrivilegedIntentsRequired):
            async with start_bot(FakeTestBot(discord.Intents.all()), fake):
                pass


async def test_members_intent_gets_members_and_chunks(fake: FakeDiscord) -> None:
    intents = discord.Intents.default()
    intents.members = True
    async with start_bot(FakeTestBot(intents), fake) as bot:
        guild = bot.get_guild(fake.guild.id)
        assert guild is not None
        assert guild.chunked  # small guild: GUILD_CREATE carried every member
        assert {m.id for m in guild.members} == set(fake.guild.members)
        found = await guild.query_members("ali")  # op 8 -> GUILD_MEMBERS_CHUNK
        assert [m.id for m in found] == [fake.user.id]


# --------------------------------------------------------------------------- shards, delays


async def test_gateway_bot_advises_shards_and_buckets_and_identifies_are_recorded() -> None:
    async with FakeDiscord(shard_count=2, max_concurrency=4) as fake:
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": "Bot fake-token"}
            async with session.get(f"{fake.api_base}/gateway/bot", headers=headers) as answer:
                body = await answer.json()
            assert body["shards"] == 2
            assert body["session_start_limit"]["max_concurrency"] == 4
            async with session.ws_connect(fake.gateway_url) as ws:
                await ws.receive_json()  # HELLO
                await ws.send_json({"op": 2, "d": {"token": "t", "intents": 0, "shard": [1, 2]}})
                ready = await ws.receive_json()
        assert ready["t"] == "READY"
        [identify] = fake.gateway.identifies
        assert (identify.shard_id, identify.shard_count) == (1, 2)


async def test_delay_next_answers_matching_requests_late_then_on_time() -> None:
    async with FakeDiscord() as fake, aiohttp.ClientSession() as session:
        fake.delay_next("GET", r"/gateway", 0.3)
        loop = asyncio.get_running_loop()
        timings: list[float] = []
        for _ in range(2):
            started = loop.time()
            headers = {"Authorization": "Bot fake-token"}
            async with session.get(f"{fake.api_base}/gateway", headers=headers) as answer:
                assert answer.status == 200
            timings.append(loop.time() - started)
        assert timings[0] >= 0.3
        assert not fake.rest.delays  # used up
