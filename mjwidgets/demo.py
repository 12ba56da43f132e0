"""The scripted demo: the whole seed workflow on the embedded simulator, images saved to a folder.

imagine → U2 → Vary (Region) with a drawn mask → the result, each step printed as it happens.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw

from .client import Client
from .models import Task


def _save(client: Client, task: Task, folder: Path, name: str) -> Path:
    data = client.download(task.image_url)
    path = folder / f"{name}.png"
    Image.open(io.BytesIO(data)).save(path)
    print(f"  saved {path} ({task.action} {task.id})")
    return path


def _region_mask(size: tuple[int, int]) -> Image.Image:
    """A hand-drawn-like region: an ellipse in the upper middle of the image (white = repaint)."""
    w, h = size
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((w * 0.3, h * 0.15, w * 0.7, h * 0.5), fill=255)
    return mask


def run_demo(out: str = "mjwidgets-demo", prompt: str = "a red fox in snow, golden hour") -> int:
    """Walk the workflow and save every image; returns a process exit code."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    client = Client()
    print(f"1. imagine: {prompt!r}")
    grid = client.wait(client.imagine(prompt), timeout=120)
    print(f"   buttons: {' '.join(b.display for b in grid.buttons)}")
    _save(client, grid, folder, "1-grid")
    print("2. U2")
    single = client.wait(client.action(grid, "U2"), timeout=120)
    single_path = _save(client, single, folder, "2-upscaled-U2")
    print(f"   buttons: {' | '.join(b.display for b in single.buttons)}")
    print("3. Vary (Region) with a mask over the upper middle")
    modal = client.action(single, "Vary (Region)")
    size = Image.open(single_path).size
    mask = _region_mask(size)
    mask.save(folder / "3-mask.png")
    varied = client.wait(client.modal(modal, prompt="a snowy owl", mask=mask), timeout=120)
    _save(client, varied, folder, "4-vary-region")
    print(f"done: {len(list(folder.glob('*.png')))} images in {folder.resolve()}")
    return 0
