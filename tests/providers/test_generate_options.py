"""``seedream-bot generate`` with issue 15's options: --frames, --style, --enhance, --format."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.providers.conftest import MakeFake
from tests.providers.test_generate_cli import in_process, one_line


async def test_frames_make_a_sequence_and_write_every_frame(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake("ark")
    code = await in_process(["a comic", "--frames", "12"], fake.env(), monkeypatch, tmp_path)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    body = fake.last().body
    assert body["sequential_image_generation"] == "auto"
    assert body["sequential_image_generation_options"] == {"max_images": 12}
    assert body["prompt"].startswith("a comic\n\nA storyboard of 12 images")
    assert len(captured.out.split()) == 12


async def test_style_enhance_and_format_reach_the_provider(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake("ark")
    args = ["a cat", "--style", "anime", "--enhance", "--model", "seedream-4-0-250828"]
    assert await in_process(args, fake.env(), monkeypatch, tmp_path) == 0, capsys.readouterr()
    body = fake.last().body
    assert body["prompt"].startswith("a cat, anime")
    assert body["optimize_prompt_options"] == {"mode": "standard"}

    args = ["a cat", "--enhance", "fast", "--model", "seedream-4-0-250828"]
    assert await in_process(args, fake.env(), monkeypatch, tmp_path) == 0
    assert fake.last().body["optimize_prompt_options"] == {"mode": "fast"}

    args = ["a cat", "--format", "PNG", "--model", "seedream-5-0-260128"]
    assert await in_process(args, fake.env(), monkeypatch, tmp_path) == 0
    assert fake.last().body["output_format"] == "png"


async def test_styles_path_is_read(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake("ark")
    styles = tmp_path / "styles.toml"
    styles.write_text('noir = "{prompt}, film noir"\n')
    env = fake.env(STYLES_PATH=str(styles))
    assert await in_process(["a cat", "--style", "noir"], env, monkeypatch, tmp_path) == 0
    assert fake.last().body["prompt"] == "a cat, film noir"


@pytest.mark.parametrize("option", [["--frames", "3"], ["--style", "anime"]])
async def test_a_blank_prompt_stays_refused_with_a_style_or_frames(
    option: list[str],
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake("ark")
    assert await in_process(["   ", *option], fake.env(), monkeypatch, tmp_path) == 2
    assert "PROMPT: must not be empty" in one_line(capsys.readouterr().err)
    assert fake.count() == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--frames", "1"], "frames"),
        (["--frames", "16"], "frames"),
        (["--frames", "3", "--count", "2"], "--frames or --count"),
        (["--style", "nope"], "style"),
        (["--enhance", "fast"], "enhance"),  # Seedream 4.5 takes only standard
        (["--format", "png"], "format"),  # 4.5 is jpeg only
    ],
)
async def test_bad_options_exit_2_before_any_request(
    args: list[str],
    expected: str,
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = await make_fake("ark")
    code = await in_process(["a cat", *args], fake.env(), monkeypatch, tmp_path)
    captured = capsys.readouterr()
    assert code == 2
    assert expected in one_line(captured.err)
    assert fake.count() == 0
