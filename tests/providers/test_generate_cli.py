"""``seedream-bot generate`` as a subprocess against each provider's fake.

Every invocation of the module runs concurrently once (task-based providers poll after 2 s, so
running them one by one would take most of a minute); the tests then check each outcome.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from PIL import Image

from bot.cli import build_parser
from bot.cli import main as cli_main
from bot.config import Settings
from bot.core.errors import SeedreamError
from bot.core.request import ResultImage
from bot.generate_cli import generate_command, write_images
from bot.generate_errors import describe_transport_error
from bot.jobs.pipeline import GenerationResult
from bot.providers import PROVIDER_TYPES
from bot.providers.downloads import download_images
from tests.providers.conftest import MakeFake
from tests.providers.fakes import FLAVORS, FakeProvider, Script, make_image

TASK_BASED = ("poyo", "vidgo", "apikley")
EDIT_MODELS = {
    "poyo": "seedream-4.5-edit",
    "vidgo": "seedream-4.5-edit",
    "apikley": "seedream/4.5-edit",
    "pixazo": "seedream-4-5-251128",
    "apiyi": "seedream-5-0-260128",
    "ark": "seedream-4-5-251128",
}


def command() -> list[str]:
    script = Path(sys.executable).with_name("seedream-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def clean_environ() -> dict[str, str]:
    """The test's environment without any provider or bot setting."""
    drop = ("_API_KEY", "_BASE_URL", "_MODEL")
    return {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(drop) and k not in ("PROVIDERS", "LOG_LEVEL", "DISCORD_TOKEN")
    }


@dataclass
class Run:
    """One CLI invocation and what the fake saw."""

    args: list[str]
    fake: FakeProvider | None
    cwd: Path
    returncode: int = -1
    stdout: str = ""
    stderr: str = ""
    #: what a case without a fake expects to see (e.g. the URL it cannot reach)
    expect: str = ""

    @property
    def paths(self) -> list[Path]:
        return [self.cwd / line for line in self.stdout.splitlines()]


async def invoke(run: Run, env: dict[str, str], *, guard: float = 60.0) -> None:
    """Run ``seedream-bot generate``; one that outlives ``guard`` s is killed (returncode -1)."""
    run.cwd.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        *command(),
        "generate",
        *run.args,
        cwd=run.cwd,
        env={**clean_environ(), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), guard)
    except TimeoutError:
        process.kill()
        await process.wait()
        run.stderr = f"still running after {guard:.0f} s"
        return
    run.returncode, run.stdout, run.stderr = process.returncode or 0, out.decode(), err.decode()


#: usage errors checked in-process (same code path, no interpreter start-up each)
INVALID: dict[str, tuple[list[str], str]] = {
    "ratio": (["a fox", "--ratio", "40:1"], "--ratio: '40:1' is too narrow or too wide"),
    "ratio-format": (["a fox", "--ratio", "wide"], "--ratio: 'wide' is not a ratio"),
    "resolution": (["a fox", "--resolution", "8K"], "--resolution:"),
    "count": (["a fox", "--count", "99"], "--count:"),
    "size-format": (["a fox", "--size", "big"], "--size: 'big' is not WIDTHxHEIGHT"),
    "size-bounds": (["a fox", "--size", "100x100"], "--size:"),
    "image": (["a fox", "--image", "/tmp/x.png"], "--image:"),
    "images": (["a fox", *["--image", "https://r.example/x.png"] * 16], "--image:"),
    "prompt": (["x" * 6000], "PROMPT:"),
    "empty-prompt": (["   "], "PROMPT:"),
    "model": (["a fox", "--model", "dall-e-3"], "--model:"),
    "seed": (["a fox", "--seed", "5"], "--seed:"),
    "timeout": (["a fox", "--timeout", "0"], "--timeout:"),
    "timeout-nan": (["a fox", "--timeout", "nan"], "--timeout:"),
    "provider": (["a fox", "--provider", "ark"], "--provider: 'ark' is not configured"),
    "unknown-provider": (["a fox", "--provider", "dalle"], "--provider:"),
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Start the fakes, run every CLI case at once, stop the fakes."""
    base = tmp_path_factory.mktemp("cli")
    fakes: list[FakeProvider] = []
    cases: dict[str, tuple[Run, dict[str, str]]] = {}

    async def fake(flavor: str, **script: Any) -> FakeProvider:
        started = await FakeProvider(
            flavor, script=Script(states=("queued", "succeeded"), **script)
        ).start()
        fakes.append(started)
        return started

    for flavor in FLAVORS:
        t2i = await fake(flavor, image_format="jpeg" if flavor == "ark" else "png")
        cases[f"t2i-{flavor}"] = (
            Run(["a red fox", "--ratio", "16:9", "--out", "images"], t2i, base / f"t2i-{flavor}"),
            t2i.env(),
        )
        edit = await fake(flavor)
        ref = f"{edit.base_url}/files/reference-0.png"
        cases[f"edit-{flavor}"] = (
            Run(
                ["make it blue", "--image", ref, "--out", "out/edits"],
                edit,
                base / f"edit-{flavor}",
            ),
            edit.env(),
        )
        bad = await fake(flavor)
        cases[f"invalid-{flavor}"] = (
            Run(["a fox", "--ratio", "40:1"], bad, base / f"invalid-{flavor}"),
            bad.env(),
        )
    denied = await fake("ark")
    cases["401"] = (
        Run(["a fox"], denied, base / "401"),
        denied.env(ARK_API_KEY="sk-wrong-key-0123456789"),
    )
    fewer = await fake("vidgo", images=2)
    cases["fewer"] = (Run(["a fox", "--count", "3"], fewer, base / "fewer"), fewer.env())
    try:
        await asyncio.gather(*(invoke(run, env) for run, env in cases.values()))
    finally:
        for started in fakes:
            await started.stop()
    return {name: run for name, (run, _) in cases.items()}


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def assert_real_images(run: Run, fmt: str) -> None:
    assert run.returncode == 0, run.stderr
    assert run.paths, run.stdout
    for path in run.paths:
        assert path.is_file()
        assert path.suffix == (".jpg" if fmt == "jpeg" else ".png")
        with Image.open(path) as image:
            image.load()
            assert image.format == fmt.upper()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_text_to_image_writes_images(runs: dict[str, Run], flavor: str) -> None:
    run = runs[f"t2i-{flavor}"]
    assert_real_images(run, "jpeg" if flavor == "ark" else "png")
    assert all(p.parent == run.cwd / "images" for p in run.paths)
    assert run.fake is not None
    assert run.fake.count("submit") == 1
    assert run.fake.count("status") == (1 if flavor in TASK_BASED else 0)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_edit_with_image_writes_images(runs: dict[str, Run], flavor: str) -> None:
    run = runs[f"edit-{flavor}"]
    assert_real_images(run, "png")
    assert run.fake is not None
    body = run.fake.last("submit").body
    assert body["model"] == EDIT_MODELS[flavor]
    assert f"{run.fake.base_url}/files/reference-0.png" in str(body)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_invalid_option_fails_before_any_request(runs: dict[str, Run], flavor: str) -> None:
    run = runs[f"invalid-{flavor}"]
    assert run.returncode == 2
    line = one_line(run.stderr)
    # a W:H outside the model's bounds: the bounds named where it takes any ratio, else the list
    assert line.startswith("error: --ratio: '40:1' is ")
    assert "1:16 to 16:1" in line or "Allowed: 1:1," in line
    assert run.stdout == ""
    assert run.fake is not None
    assert run.fake.count() == 0


def test_unauthorized_is_one_line_without_the_key(runs: dict[str, Run]) -> None:
    run = runs["401"]
    assert run.returncode == 1
    line = one_line(run.stderr)
    assert line == "error: BytePlus ModelArk refused the API key (HTTP 401)."
    assert "sk-wrong-key" not in run.stderr + run.stdout
    assert run.fake is not None
    assert run.fake.api_key not in run.stderr + run.stdout


def test_fewer_images_than_requested(runs: dict[str, Run]) -> None:
    run = runs["fewer"]
    assert_real_images(run, "png")
    assert len(run.paths) == 2
    assert "2 of 3" in run.stderr


def test_write_images_never_overwrites(tmp_path: Path) -> None:
    png, jpeg = make_image("png"), make_image("jpeg")
    result = GenerationResult(images=(png, jpeg), provider="p", model="m", task_id="t", requested=2)
    first = write_images(result, tmp_path / "new" / "dir")
    second = write_images(result, tmp_path / "new" / "dir")
    assert [p.suffix for p in first] == [".png", ".jpg"]
    assert len(set(first + second)) == 4
    assert [p.read_bytes() for p in second] == [png, jpeg]
    assert Image.open(io.BytesIO(first[1].read_bytes())).format == "JPEG"


@pytest.mark.parametrize("name", list(INVALID))
async def test_usage_errors_exit_2_naming_the_option(
    name: str,
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args, expected = INVALID[name]
    fake = await make_fake("poyo")
    code = await in_process(args, fake.env(), monkeypatch, tmp_path)
    captured = capsys.readouterr()
    assert code == 2
    assert expected in one_line(captured.err)
    assert captured.out == ""
    assert fake.count() == 0


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["generate", "a fox", "--count", "lots"])
    assert caught.value.code == 2
    assert "--count" in capsys.readouterr().err


async def in_process(
    args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> int:
    """``generate_command`` as ``bot.cli`` calls it, in this process and event loop."""
    monkeypatch.chdir(tmp_path)
    for key in clean_environ().keys() ^ os.environ.keys():
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    parsed = build_parser().parse_args(["generate", *args])
    return await generate_command(parsed, Settings(_env_file=None))  # type: ignore[call-arg]


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_unauthorized_in_process(
    flavor: str,
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake(flavor)
    wrong = "sk-wrong-key-0123456789"
    code = await in_process(
        ["a fox"], fake.env(**{f"{fake.shape.env_prefix}_API_KEY": wrong}), monkeypatch, tmp_path
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "401" in one_line(captured.err)
    assert wrong not in captured.err + captured.out


async def test_no_provider_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await in_process(["a fox"], {}, monkeypatch, tmp_path) == 2
    line = one_line(capsys.readouterr().err)
    assert "POYO_API_KEY" in line
    assert "ARK_API_KEY" in line


async def test_failed_task_is_one_line(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake("ark", fail="The prompt violates our content policy")
    assert await in_process(["a fox"], fake.env(), monkeypatch, tmp_path) == 1
    assert "content filter" in one_line(capsys.readouterr().err)


# -- promises: --timeout bounds the whole run, --out is checked first, local --image files,
# -- an unreachable provider is named with its URL, check flags an unknown model


#: a hung CLI is killed after this many seconds (the old code took 180 s on a silent provider)
HANG_GUARD = 45.0


async def invoke_bounded(run: Run, env: dict[str, str]) -> None:
    """``invoke``, but a CLI that outlives HANG_GUARD is killed and left with returncode -1."""
    await invoke(run, env, guard=HANG_GUARD)


def closed_port() -> int:
    """A local port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bounded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Providers that hang, are away or serve junk: each case run once, all at once."""
    base = tmp_path_factory.mktemp("bounded")
    fakes: list[FakeProvider] = []
    cases: dict[str, tuple[Run, dict[str, str]]] = {}

    async def case(name: str, flavor: str, args: list[str], **script: Any) -> None:
        fake = await FakeProvider(flavor, script=Script(**script)).start()
        fakes.append(fake)
        cases[name] = (Run([*args, "--out", "out/images"], fake, base / name), fake.env())

    quick = ["a fox", "--timeout", "1"]
    await case("never-answers", "poyo", quick, stall=frozenset({"submit"}))
    await case("slow-sync", "ark", quick, latency=60.0)
    await case("never-finishes", "vidgo", quick, states=("queued",))
    await case("status-hangs", "poyo", ["a fox", "--timeout", "2.5"], stall=frozenset({"status"}))
    await case("download-hangs", "apiyi", quick, stall=frozenset({"image"}))
    await case("html-image", "ark", ["a fox"], html_images=frozenset({0}))
    await case("one-html-image", "ark", ["a fox", "--count", "2"], html_images=frozenset({1}))
    away = f"http://127.0.0.1:{closed_port()}"
    env = {"POYO_API_KEY": "fk-unreachable-0123456789", "POYO_BASE_URL": away}
    cases["unreachable"] = (
        Run(["a fox", "--out", "out/images"], None, base / "unreachable", expect=away),
        env,
    )
    # a refused submit is retried twice, after waits of ≥ 0.5 s and ≥ 1 s: the timeout ends
    # one of those waits, well after the first refusal
    cases["unreachable-timeout"] = (
        Run(["a fox", "--timeout", "1"], None, base / "unreachable-timeout", expect=away),
        env,
    )
    try:
        await asyncio.gather(*(invoke_bounded(run, env) for run, env in cases.values()))
    finally:
        for fake in fakes:
            await fake.stop()
    return {name: run for name, (run, _) in cases.items()}


def assert_nothing_written(run: Run) -> None:
    assert run.stdout == ""
    assert not (run.cwd / "out").exists(), list((run.cwd / "out").rglob("*"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("never-answers", "error: PoYo did not answer within 1 s."),
        ("slow-sync", "error: BytePlus ModelArk did not answer within 1 s."),
        ("download-hangs", "error: The images from APIYI did not download within 1 s."),
    ],
)
def test_timeout_bounds_submit_synchronous_generation_and_download(
    bounded: dict[str, Run], name: str, expected: str
) -> None:
    run = bounded[name]
    assert run.returncode == 1, run.stderr
    assert one_line(run.stderr) == expected
    assert_nothing_written(run)
    assert run.fake is not None
    assert run.fake.count("submit") == 1


@pytest.mark.parametrize("name", ["never-finishes", "status-hangs"])
def test_timeout_bounds_waiting_and_names_the_task(bounded: dict[str, Run], name: str) -> None:
    run = bounded[name]
    assert run.returncode == 1, run.stderr
    line = one_line(run.stderr)
    assert run.fake is not None
    [task_id] = run.fake.tasks
    assert f"did not finish task {task_id} within" in line
    assert "may still run, and be charged" in line
    assert_nothing_written(run)


def test_unreachable_provider_names_the_url_and_the_cause(bounded: dict[str, Run]) -> None:
    run = bounded["unreachable"]
    assert run.returncode == 1, run.stderr
    line = one_line(run.stderr)  # and no retry WARNING lines around it
    assert (
        line == f"error: cannot reach PoYo at {run.expect}/api/generate/submit: connection refused"
    )
    assert "WARNING" not in run.stderr
    assert_nothing_written(run)


async def test_out_that_is_a_file_fails_before_any_request(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake("poyo")
    (tmp_path / "taken").write_text("not a directory")
    for out, blocked in (
        ("taken", "'taken' is a file"),
        ("taken/sub", "'taken' is not a directory"),
    ):
        code = await in_process(["a fox", "--out", out], fake.env(), monkeypatch, tmp_path)
        assert code == 2
        assert one_line(capsys.readouterr().err) == (
            f"error: --out: cannot write images to '{out}': {blocked}."
        )
    assert fake.count() == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to a read-only directory")
async def test_read_only_out_fails_before_any_request(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake("ark")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    code = await in_process(["a fox", "--out", "locked/new"], fake.env(), monkeypatch, tmp_path)
    assert code == 2
    assert one_line(capsys.readouterr().err).startswith("error: --out: cannot create 'locked/new'")
    code = await in_process(["a fox", "--out", "locked"], fake.env(), monkeypatch, tmp_path)
    assert code == 2
    assert one_line(capsys.readouterr().err).startswith(
        "error: --out: cannot write images to 'locked': "
    )
    assert fake.count() == 0


@pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="needs Linux /proc")
async def test_unwritable_out_fails_before_any_request_even_for_root(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """/proc/self/fdinfo is a directory nobody can create files in, root included."""
    fake = await make_fake("ark")
    code = await in_process(
        ["a fox", "--out", "/proc/self/fdinfo"], fake.env(), monkeypatch, tmp_path
    )
    assert code == 2
    assert one_line(capsys.readouterr().err).startswith(
        "error: --out: cannot write images to '/proc/self/fdinfo': "
    )
    assert fake.count() == 0


async def test_out_is_created_and_removed_again_when_the_run_fails(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake("ark", fail="The prompt violates our content policy")
    (tmp_path / "kept").mkdir()
    code = await in_process(["a fox", "--out", "kept/a/b"], fake.env(), monkeypatch, tmp_path)
    assert code == 1
    assert "content filter" in one_line(capsys.readouterr().err)
    assert fake.count("submit") == 1
    assert [p.name for p in tmp_path.rglob("*")] == ["kept"]


def png_file(path: Path, fmt: str = "png") -> bytes:
    data = make_image(fmt, 1)
    path.write_bytes(data)
    return data


async def test_local_image_file_is_sent_inline(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake("ark")
    png = png_file(tmp_path / "photo.png")
    jpeg = png_file(tmp_path / "second.jpg", "jpeg")
    args = ["make it blue", "--image", "photo.png", "--image", str(tmp_path / "second.jpg")]
    code = await in_process(args, fake.env(), monkeypatch, tmp_path)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    image = fake.last("submit").body["image"]
    assert image == [
        "data:image/png;base64," + base64.b64encode(png).decode(),
        "data:image/jpeg;base64," + base64.b64encode(jpeg).decode(),
    ]
    assert len(captured.out.splitlines()) == 1


@pytest.mark.parametrize("flavor", ["poyo", "vidgo", "pixazo", "apikley", "apiyi"])
async def test_local_image_file_where_a_url_is_needed_says_so(
    flavor: str,
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake(flavor)
    png_file(tmp_path / "photo.png")
    code = await in_process(["a fox", "--image", "photo.png"], fake.env(), monkeypatch, tmp_path)
    assert code == 2
    line = one_line(capsys.readouterr().err)
    display = PROVIDER_TYPES[flavor].display_name
    assert line.startswith(
        f"error: --image: {display} needs reference images as http(s) URLs, "
        "so the local file 'photo.png' cannot be sent"
    )
    assert "local files work with ark only" in line
    assert fake.count() == 0


async def test_url_only_provider_points_at_a_configured_one_taking_files(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    poyo, ark = await make_fake("poyo"), await make_fake("ark")
    png_file(tmp_path / "photo.png")
    data_url = "data:image/png;base64," + base64.b64encode(make_image()).decode()
    env = {**poyo.env(), **ark.env()}
    code = await in_process(["a fox", "--image", "photo.png"], env, monkeypatch, tmp_path)
    assert code == 2
    assert one_line(capsys.readouterr().err).endswith("(or use --provider ark).")
    code = await in_process(["a fox", "--image", data_url], env, monkeypatch, tmp_path)
    assert code == 2
    assert one_line(capsys.readouterr().err) == (
        "error: --image: PoYo takes reference images as http(s) URLs, not data: URLs."
    )
    assert poyo.count() == ark.count() == 0


@pytest.mark.parametrize(
    ("content", "value", "expected"),
    [
        (b"GIF89a not ours", "x.gif", "'x.gif' is not a PNG, JPEG or WebP image."),
        (make_image()[:40], "cut.png", "'cut.png' is corrupt or truncated."),
        (b"", "empty.png", "'empty.png' is empty."),
        (None, "missing.png", "'missing.png' is neither an http(s) URL nor an existing file."),
        (None, ".", "'.' is a directory, not an image file."),
        (None, "ftp://host/x.png", "'ftp://host/x.png' is not an http(s) URL."),
    ],
)
async def test_bad_local_image_fails_before_any_request(
    content: bytes | None,
    value: str,
    expected: str,
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake("ark")
    if content is not None:
        (tmp_path / value).write_bytes(content)
    code = await in_process(["a fox", "--image", value], fake.env(), monkeypatch, tmp_path)
    assert code == 2
    assert one_line(capsys.readouterr().err) == f"error: --image: {expected}"
    assert fake.count() == 0


async def test_unreachable_image_host_is_named(client: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{closed_port()}/files/result-0.png"
    with pytest.raises(SeedreamError) as caught:
        await download_images(client, [ResultImage(url=url)])
    assert describe_transport_error(caught.value) == (
        f"cannot reach the image host at {url}: connection refused"
    )


def test_check_warns_about_an_unknown_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for key in clean_environ().keys() ^ os.environ.keys():
        monkeypatch.delenv(key)
    env = {
        "DISCORD_TOKEN": "a.b.c",
        "POYO_API_KEY": "fk-poyo-0123456789",
        "POYO_MODEL": "seedream-9",
        "ARK_API_KEY": "fk-ark-0123456789",
        "ARK_MODEL": "seedream-4-0-250828",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (tmp_path / ".env").write_text("")
    assert cli_main(["check"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line for line in lines if line.startswith("warning: ") and "_MODEL" in line] == [
        "warning: POYO_MODEL: 'seedream-9' is not a model known for PoYo "
        "(known: seedream-4.5, seedream-4); it is sent as is, limited to one image and one "
        "reference image"
    ]
    assert lines[-1] == "OK: the bot can start."
    assert captured.err == ""


def test_timeout_while_retrying_says_what_kept_failing(bounded: dict[str, Run]) -> None:
    run = bounded["unreachable-timeout"]
    assert run.returncode == 1, run.stderr
    assert one_line(run.stderr) == (
        "error: PoYo did not answer within 1 s. Last error: cannot reach PoYo at "
        f"{run.expect}/api/generate/submit: connection refused."
    )
    assert "WARNING" not in run.stderr
    assert_nothing_written(run)


def test_no_usable_image_is_one_line(bounded: dict[str, Run]) -> None:
    run = bounded["html-image"]
    assert run.returncode == 1, run.stderr
    assert one_line(run.stderr) == "error: A result link did not serve a PNG, JPEG or WebP image."
    assert_nothing_written(run)


def test_a_skipped_image_is_a_note_after_the_paths(bounded: dict[str, Run]) -> None:
    run = bounded["one-html-image"]
    assert_real_images(run, "png")
    assert len(run.paths) == 1
    assert run.stderr.splitlines() == [
        "note: result image 2 of 2 skipped: A result link did not serve a PNG, JPEG or WebP image.",
        "note: 1 of 2 images delivered",
    ]


# -- one pipeline: generate selects and fails over like the bot (bot.jobs.pipeline)


async def test_generate_fails_over_to_the_second_provider_when_the_first_refuses(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = "sk-wrong-key-0123456789"
    poyo, vidgo = await make_fake("poyo"), await make_fake("vidgo")
    env = {**poyo.env(POYO_API_KEY=wrong), **vidgo.env()}
    code = await in_process(["a fox", "--out", "out"], env, monkeypatch, tmp_path)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    [path] = captured.out.splitlines()
    assert Path(path).name.startswith("vidgo-")
    assert (tmp_path / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (poyo.count("submit"), vidgo.count("submit")) == (1, 1)
    assert wrong not in captured.err + captured.out


async def test_provider_option_pins_the_run_to_that_provider(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    poyo, vidgo = await make_fake("poyo"), await make_fake("vidgo")
    env = {**poyo.env(POYO_API_KEY="sk-wrong-key-0123456789"), **vidgo.env()}
    code = await in_process(["a fox", "--provider", "poyo"], env, monkeypatch, tmp_path)
    assert code == 1
    assert "401" in one_line(capsys.readouterr().err)
    assert (poyo.count("submit"), vidgo.count()) == (1, 0)


async def test_every_provider_refusing_reports_the_last_refusal(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    poyo, vidgo = await make_fake("poyo"), await make_fake("vidgo")
    env = {
        **poyo.env(POYO_API_KEY="sk-wrong-key-0123456789"),
        **vidgo.env(VIDGO_API_KEY="sk-wrong-key-9876543210"),
    }
    code = await in_process(["a fox", "--out", "out"], env, monkeypatch, tmp_path)
    line = one_line(capsys.readouterr().err)
    assert code == 1
    assert "401" in line
    assert (poyo.count("submit"), vidgo.count("submit")) == (1, 1)
    assert not (tmp_path / "out").exists()  # created for the run, removed on failure
