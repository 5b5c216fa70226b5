"""The blocklist through the real bot: spellings that dodge a term are refused at /imagine
with nothing charged, and terms that could never match are refused at /blocklist add."""

from __future__ import annotations

import pytest

from tests.e2e.harness import World, job_id_in
from tests.e2e.test_moderation import audit, command, imagine, mod_says, moderator, status

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "prompt",
    [
        "a ｎｕ\u200bｄｅ portrait",  # fullwidth and a zero-width space
        "a пudе by the sea",  # Cyrillic п and е
        "draw a n.u.d.e figure",  # dotted letters
        "a n u d e figure",  # spaced letters
    ],
)
async def test_an_evasion_is_refused_ephemerally_and_charges_nothing(
    world: World, prompt: str
) -> None:
    async with world.running():
        await mod_says(world, moderator(world), "blocklist add", term="nude")
        refusal = await imagine(world, prompt=prompt)
        assert "term this server has blocked" in refusal
        assert "nude" not in refusal.lower()  # the member is never told the term
        assert world.provider.count("submit") == 0
        assert (await status(world))["Left today"] == "10 of 10"
        assert world.channel_messages() == []
        # a prompt that merely contains the letters still goes through
        job_id_in(await imagine(world, prompt="a denuded hillside at dawn"))


async def test_a_term_with_nothing_to_match_is_refused_and_nothing_is_listed(
    world: World,
) -> None:
    async with world.running():
        mod = moderator(world)
        for term in ("\u200b\u200b", "...", "\u2060_\u2060"):
            answer = await command(world, "blocklist add", mod, term=term)
            assert answer.ephemeral
            assert "`term`: has no letter or digit" in (answer.content or "")
        listing = await command(world, "blocklist list", mod)
        assert "None" in listing.embeds[0]["description"]
        assert await audit(world) == []


async def test_look_alike_spellings_of_a_listed_term_are_the_same_term(world: World) -> None:
    async with world.running():
        mod = moderator(world)
        said = await mod_says(world, mod, "blocklist add", term="ＮＵＤＥ")
        assert "||nude||: not listed → listed" in said
        again = await mod_says(world, mod, "blocklist add", term="пudе")
        assert again.startswith("No change")
        listing = await command(world, "blocklist list", mod)
        assert listing.embeds[0]["description"] == "`nude`"
        said = await mod_says(world, mod, "blocklist remove", term="NUDE")
        assert "listed → not listed" in said
        job_id_in(await imagine(world, prompt="a пudе by the sea"))
