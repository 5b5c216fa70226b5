"""``seedream-bot generate`` with the new options: W:H ratios, --size, --guide, --guidance,
a local --image keeping its shape. In process, against the fake providers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.providers.conftest import MakeFake
from tests.providers.test_generate_cli import in_process, one_line


def photo(tmp_path: Path, size: tuple[int, int]) -> str:
    """A local PNG of ``size`` pixels."""
    path = tmp_path / f"photo-{size[0]}x{size[1]}.png"
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 60, 90)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return str(path)


async def run(
    flavor: str,
    args: list[str],
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> tuple[int, Any]:
    fake = await make_fake(flavor)
    code = await in_process(
        [*args, "--out", str(tmp_path / "out")], fake.env(), monkeypatch, tmp_path
    )
    return code, fake


async def test_a_local_file_edit_keeps_its_shape(
    make_fake: MakeFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    image = photo(tmp_path, (800, 600))
    code, fake = await run("ark", ["x", "--image", image], make_fake, monkeypatch, tmp_path)
    assert code == 0
    body = fake.last("submit").body
    assert body["size"] == "2304x1728"  # 4:3 at 2K, as in Discord
    assert body["image"].startswith("data:image/png;base64,")


async def test_guide_sends_the_references_to_the_base_model(
    make_fake: MakeFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = "https://example.org/cat.png"
    code, fake = await run(
        "poyo", ["x", "--image", url, "--guide"], make_fake, monkeypatch, tmp_path
    )
    assert code == 0
    body = fake.last("submit").body
    assert body["model"] == "seedream-4.5"
    assert body["input"]["image_urls"] == [url]


async def test_any_ratio_and_exact_size(
    make_fake: MakeFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, fake = await run("apiyi", ["x", "--ratio", "5:4"], make_fake, monkeypatch, tmp_path)
    assert code == 0
    # APIYI: "total ∈ [1280×720, 4096×4096] and aspect ratio ∈ [1/16, 16]" (seed 004, l.52)
    assert fake.last("submit").body["size"] == "2288x1832"
    code, fake = await run("apiyi", ["x", "--size", "3000x2000"], make_fake, monkeypatch, tmp_path)
    assert code == 0
    assert fake.last("submit").body["size"] == "3000x2000"


async def test_size_out_of_bounds_uses_the_same_validator(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, fake = await run("poyo", ["x", "--size", "100x100"], make_fake, monkeypatch, tmp_path)
    assert code == 2
    line = one_line(capsys.readouterr().err)
    assert line == (
        "error: --size: 100x100 is 10,000 pixels; Seedream 4.5 takes 3,686,400 to 16,777,216."
    )
    assert fake.count() == 0


async def test_guidance_and_random_seed_on_seedream_3(
    make_fake: MakeFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = ["x", "--model", "seedream-3-0-t2i-250415", "--seed", "-1", "--guidance", "2.5"]
    code, fake = await run("pixazo", args, make_fake, monkeypatch, tmp_path)
    assert code == 0
    body = fake.last("submit").body
    assert (body["seed"], body["guidance_scale"]) == (-1, 2.5)


async def test_guidance_where_not_taken_is_refused(
    make_fake: MakeFake,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, fake = await run("pixazo", ["x", "--guidance", "3"], make_fake, monkeypatch, tmp_path)
    assert code == 2
    assert "takes no guidance scale" in capsys.readouterr().err
    assert fake.count() == 0
