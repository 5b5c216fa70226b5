"""``seedream-bot generate`` as a subprocess against each provider's fake.

Every invocation of the module runs concurrently once (task-based providers poll after 2 s, so
running them one by one would take most of a minute); the tests then check each outcome.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from PIL import Image

from bot.cli import build_parser
from bot.config import Settings
from bot.generate_cli import generate_command, write_images
from bot.generation import GenerationResult
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

    @property
    def paths(self) -> list[Path]:
        return [self.cwd / line for line in self.stdout.splitlines()]


async def invoke(run: Run, env: dict[str, str]) -> None:
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
    out, err = await asyncio.wait_for(process.communicate(), 60)
    run.returncode, run.stdout, run.stderr = process.returncode or 0, out.decode(), err.decode()


#: usage errors checked in-process (same code path, no interpreter start-up each)
INVALID: dict[str, tuple[list[str], str]] = {
    "ratio": (["a fox", "--ratio", "7:3"], "--ratio: '7:3' is not offered by"),
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
            Run(["a fox", "--ratio", "7:3"], bad, base / f"invalid-{flavor}"),
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
    assert one_line(run.stderr).startswith("error: --ratio: '7:3' is not offered by Seedream")
    assert "Allowed: 1:1," in run.stderr
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
