"""Issue 13's resilience test: two ``run`` processes (shards 0 and 1 of 2) and a ``worker`` on
one PostgreSQL, 60 jobs from 20 members in both shards' servers, the busiest process SIGKILLed
mid-job and restarted, half of the provider callbacks sent to another process than the one
that asked for them. Every job is posted once and charged once, the limits hold at every
sample, and the killed process's jobs finish within JOB_STALL_TIMEOUT + JOB_RECOVERY_INTERVAL."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tests.botprocess import BotProcess, bot_env, bot_process, free_port, wait_healthy
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_models import FakeChannel, FakeGuild, FakeMember, FakeUser
from tests.providers.fakes import FakeProvider, Script

TOKEN = "MTAxMDEwMTAxMDEwMTAxMDEw.Gresil.token-that-must-never-be-logged"
KEY = "sk-poyo-resilience-key-that-must-never-be-logged"
STALL, TICK = 3, 1
#: what the killed process's jobs need after their task is claimed again: the claim itself
#: (procrastinate's notification, else its poll), one status request, the download and the
#: post, on a loaded 2-core machine
SLACK = 3.0
PER_MEMBER = 2  # MAX_JOBS_PER_USER
PROVIDER_LIMIT = 6  # PROVIDER_CONCURRENCY: below the initial adaptive limit, so fixed
TASK_SECONDS = 1.5
#: jobs per member, 60 in all from 20 members: once the light ones are served, the two heavy
#: members alone could fill the provider (2 × PER_MEMBER < PROVIDER_LIMIT), so the per-member
#: limit is what holds them back
PLAN = [12] * 2 + [2] * 18
SAMPLE_EVERY = 0.1
#: the kill comes once this many jobs are done (and the busiest process is mid-job)
KILL_AFTER_DONE = 12


@dataclass
class Samples:
    """Peaks of jobs in flight seen at each 100 ms sample (the worst one kept per key)."""

    count: int = 0
    member_flights: int = 0  # the fair line's in-flight rows, per member
    provider_flights: int = 0  # … holding a provider slot, per provider
    member_active: int = 0  # the ledger: jobs submitted, running or delivering, per member
    provider_active: int = 0  # the ledger: jobs submitted or running, per provider
    at_provider: int = 0  # the fake provider's unfinished tasks
    done_at: dict[str, float] = field(default_factory=dict)  # job id -> first seen done


async def sample_forever(pg_url: str, provider: FakeProvider, out: Samples) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        while True:
            flights = await (
                await conn.execute(
                    "SELECT max(n) FROM (SELECT count(*) n FROM cluster_flights GROUP BY user_id) m"
                    " UNION ALL SELECT max(n) FROM (SELECT count(*) n FROM cluster_flights"
                    "  WHERE provider IS NOT NULL GROUP BY provider) p"
                    " UNION ALL SELECT max(n) FROM (SELECT count(*) n FROM jobs WHERE state IN"
                    "  ('submitted', 'running', 'delivering') GROUP BY user_id) a"
                    " UNION ALL SELECT max(n) FROM (SELECT count(*) n FROM jobs WHERE state IN"
                    "  ('submitted', 'running') GROUP BY provider) b"
                )
            ).fetchall()
            peaks = [int(row[0] or 0) for row in flights]
            out.member_flights = max(out.member_flights, peaks[0])
            out.provider_flights = max(out.provider_flights, peaks[1])
            out.member_active = max(out.member_active, peaks[2])
            out.provider_active = max(out.provider_active, peaks[3])
            out.at_provider = max(out.at_provider, provider.in_flight())
            now = time.monotonic()
            for (job_id,) in await (
                await conn.execute("SELECT id FROM jobs WHERE state = 'done'")
            ).fetchall():
                out.done_at.setdefault(str(job_id), now)
            out.count += 1
            await asyncio.sleep(SAMPLE_EVERY)


def redirect_half(
    provider: FakeProvider, ports: dict[str, int], alive: dict[str, bool]
) -> list[tuple[int, int | str]]:
    """Every other callback goes to a live process other than the one whose URL it carries."""
    sent = provider.post_callback
    redirected: list[tuple[int, int | str]] = []
    counter = iter(range(10**6))

    async def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
        parts = urlsplit(url)
        others = [p for n, p in ports.items() if alive[n] and p != parts.port]
        if next(counter) % 2 or not others:
            return await sent(url, body, headers)
        moved = urlunsplit(parts._replace(netloc=f"127.0.0.1:{others[0]}"))
        try:
            status: int | str = await sent(moved, body, headers)
        except OSError as exc:
            status = type(exc).__name__
        redirected.append((others[0], status))
        if isinstance(status, str):
            raise OSError(status)
        return status

    provider.post_callback = post  # type: ignore[method-assign]
    return redirected


async def guilds_on_both_shards(discord: FakeDiscord) -> list[FakeGuild]:
    """A new server on each shard (a guild's shard is its id's timestamp modulo 2)."""
    found: dict[int, FakeGuild] = {}
    while len(found) < 2:
        guild = discord.new_guild(f"Server {len(discord.extra_guilds)}")
        found.setdefault(discord.shard_of(guild.id), guild)
        await asyncio.sleep(0.002)  # the next snowflake's millisecond
    for guild in found.values():
        await discord.dispatch("GUILD_CREATE", discord.guild_join_payload(guild), guild_id=guild.id)
    return [found[0], found[1]]


def member_of(discord: FakeDiscord, guild: FakeGuild, name: str) -> FakeMember:
    member = FakeMember(user=FakeUser(discord.snowflake(), name, name.title()))
    guild.members[member.id] = member
    return member


def channel_of(guild: FakeGuild) -> FakeChannel:
    return next(iter(guild.channels.values()))


def query(pg_url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql).fetchall()


def busiest(pg_url: str, bots: dict[str, BotProcess]) -> tuple[str, set[str]] | None:
    """The process running the most jobs, and those jobs, once one of them is at the
    provider (mid-job)."""
    rows = query(
        pg_url,
        "SELECT t.args->>'job_id', j.task_id FROM procrastinate_jobs t"
        " JOIN jobs j ON j.id = t.args->>'job_id' WHERE t.status = 'doing'",
    )
    running: dict[str, set[str]] = {name: set() for name in bots}
    submitted: set[str] = set()
    for job_id, task_id in rows:
        for name, bot in bots.items():
            if f"job {job_id}: running here" in bot.output:
                running[name].add(job_id)
        if task_id is not None:
            submitted.add(job_id)
    name = max(running, key=lambda n: len(running[n]))
    if not running[name] & submitted:
        return None
    return name, running[name]


async def test_killed_and_restarted_process_loses_nothing_and_keeps_the_limits(
    tmp_path: Path, pg_url: str
) -> None:
    async with (
        FakeDiscord(
            heartbeat_interval_ms=1000, token=TOKEN, shard_count=2, max_concurrency=2
        ) as discord,
        FakeProvider("poyo", api_key=KEY, script=Script(finish_after=TASK_SECONDS)) as provider,
    ):
        ports = {"run0": free_port(), "run1": free_port(), "worker": free_port()}
        commands = {"run0": "run", "run1": "run", "worker": "worker"}

        def env(name: str) -> dict[str, str]:
            shards = {"SHARD_IDS": name[-1], "SHARD_COUNT": "2"} if name != "worker" else {}
            return bot_env(
                tmp_path / name,
                discord,
                provider,
                ports[name],
                DISCORD_TOKEN=TOKEN,
                DATABASE_URL=pg_url,
                PUBLIC_URL=f"http://127.0.0.1:{ports[name]}",
                JOB_STALL_TIMEOUT=str(STALL),
                JOB_RECOVERY_INTERVAL=str(TICK),
                MAX_JOBS_PER_USER=str(PER_MEMBER),
                PROVIDER_CONCURRENCY=str(PROVIDER_LIMIT),
                DEFAULT_DAILY_QUOTA=str(max(PLAN)),
                **shards,
            )

        alive = dict.fromkeys(ports, True)
        redirected = redirect_half(provider, ports, alive)
        samples = Samples()
        async with contextlib.AsyncExitStack() as stack:
            bots = {
                name: await stack.enter_async_context(
                    bot_process(tmp_path, env(name), commands[name])
                )
                for name in ports
            }
            await discord.wait_ready(timeout=60)
            for bot in bots.values():
                await wait_healthy(bot, timeout=60)
            servers = await guilds_on_both_shards(discord)
            sampler = asyncio.create_task(sample_forever(pg_url, provider, samples))
            # 60 jobs from 20 members, the members alternating between the two servers
            members = [
                (member_of(discord, servers[i % 2], f"member{i}"), channel_of(servers[i % 2]))
                for i in range(len(PLAN))
            ]
            asked = [(i, n) for n in range(max(PLAN)) for i in range(len(PLAN)) if n < PLAN[i]]
            sent: Counter[int] = Counter()
            for i, n in asked:
                member, channel = members[i]
                await discord.slash(
                    "imagine",
                    user=member,
                    channel=channel,
                    options={"prompt": f"member {i}, picture {n}: a lighthouse", "count": 1},
                )
                sent[channel.id] += 1
            await discord.wait_for(
                lambda: query(pg_url, "SELECT count(*) FROM jobs")[0][0] == len(asked) or None,
                timeout=60,
            )

            # SIGKILL the busiest process once it is mid-job and a fifth of the jobs are done
            def kill_now() -> tuple[str, set[str]] | None:
                if len(samples.done_at) < KILL_AFTER_DONE:
                    return None
                return busiest(pg_url, bots)

            victim, killed_jobs = await discord.wait_for(kill_now, timeout=60)
            alive[victim] = False
            bots[victim].process.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            await bots[victim].process.wait()
            await discord.wait_for(
                lambda: killed_jobs <= samples.done_at.keys() or None,
                timeout=STALL + TICK + SLACK + 30,
            )
            finished_after = max(samples.done_at[j] for j in killed_jobs) - killed_at

            # restart it; everything finishes
            old_output = bots[victim].output
            bots[victim] = await stack.enter_async_context(
                bot_process(tmp_path, env(victim), commands[victim])
            )
            await wait_healthy(bots[victim], timeout=60)
            alive[victim] = True
            await discord.wait_for(lambda: len(samples.done_at) == len(asked) or None, timeout=120)
            await asyncio.sleep(1.0)  # a duplicate post would land now
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
            for bot in bots.values():
                bot.process.send_signal(signal.SIGTERM)
            codes = [await asyncio.wait_for(b.process.wait(), timeout=15) for b in bots.values()]
        outputs = old_output + "".join(b.output for b in bots.values())

    print(
        f"RESULT resilience: killed {victim} with {len(killed_jobs)} jobs running; they finished "
        f"{finished_after:.2f} s after the kill (stall {STALL} + tick {TICK} + slack {SLACK}); "
        f"{samples.count} samples, peaks: member {samples.member_flights}/{PER_MEMBER}, "
        f"provider {samples.provider_flights}/{PROVIDER_LIMIT}, at the provider "
        f"{samples.at_provider}; {len(redirected)} callbacks sent to another process"
    )
    assert codes == [0, 0, 0]
    # delivered exactly once: one result message per job, in the server it was asked in
    for server in servers:
        channel = channel_of(server)
        posted = [m for m in discord.messages(channel) if m.attachments]
        assert len(posted) == sent[channel.id]
    assert sum(sent.values()) == len(asked) == 60
    # charged exactly once: each job one image, and the counters say the same
    jobs = query(pg_url, "SELECT state, charged, user_id FROM jobs")
    assert Counter((state, charged) for state, charged, _ in jobs) == {("done", 1): 60}
    used = dict(query(pg_url, "SELECT user_id, sum(used) FROM daily_usage GROUP BY user_id"))
    charged = Counter(user for _, _, user in jobs)
    assert {int(u): int(n) for u, n in used.items()} == dict(charged)
    # the limits held at every sample, and were reached (so the sampling saw real load)
    assert samples.count >= 50
    assert samples.member_flights == samples.member_active == PER_MEMBER
    assert samples.provider_flights == PROVIDER_LIMIT
    assert samples.provider_active <= PROVIDER_LIMIT
    assert samples.at_provider <= PROVIDER_LIMIT
    # the killed process's jobs went on elsewhere: its last heartbeat was at most STALL/3
    # before the kill, so another process retried them within STALL + TICK; SLACK above
    assert killed_jobs
    assert finished_after <= STALL + TICK + SLACK
    assert re.search(r"its worker died; retried", outputs)
    # half of the callbacks reached another process than the job's, which took them
    assert redirected
    assert all(status == 200 for _, status in redirected)
    assert TOKEN not in outputs
    assert KEY not in outputs
