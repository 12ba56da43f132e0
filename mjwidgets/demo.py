"""The demo: JupyterLab on notebooks/quickstart.ipynb with the embedded simulator — or, with
`--script` (or without JupyterLab), the same workflow as a script that saves the images.

imagine → U2 → Vary (Region) with a drawn mask → the result, each step printed as it happens.
"""

from __future__ import annotations

import importlib.util
import io
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from .client import Client
from .models import Task


def _save(client: Client, task: Task, folder: Path, name: str) -> Path:
    data = client.download(task.image_url or "")
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


def notebooks_source() -> Path:
    """The shipped notebooks: inside an installed wheel, or beside the package in a checkout."""
    for candidate in (
        Path(__file__).resolve().parent / "notebooks",
        Path(__file__).resolve().parent.parent / "notebooks",
    ):
        if (candidate / "quickstart.ipynb").exists():
            return candidate
    raise FileNotFoundError("the mjwidgets notebooks are missing from this installation")


def run_lab_demo(
    folder: str = "mjwidgets-notebooks",
    *,
    port: int = 8888,
    open_browser: bool = True,
    extra_args: list[str] | None = None,
) -> int:
    """Copy the notebooks to `folder` (never overwriting edits) and open JupyterLab on the
    quick start, with the embedded simulator as the backend."""
    if importlib.util.find_spec("jupyterlab") is None:
        print(
            "mjwidgets demo: JupyterLab is not installed — running the scripted demo instead.\n"
            "  For the notebook demo: pip install 'mjwidgets[demo]'",
            file=sys.stderr,
        )
        return run_demo()
    target = Path(folder).resolve()
    target.mkdir(parents=True, exist_ok=True)
    for notebook in sorted(notebooks_source().glob("*.ipynb")):
        if not (target / notebook.name).exists():
            shutil.copy2(notebook, target / notebook.name)
    env = {k: v for k, v in os.environ.items() if k not in ("MJ_BASE_URL", "MJ_API_KEY")}
    token = secrets.token_hex(16)
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={target}",
        f"--ServerApp.port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        "quickstart.ipynb",
    ]
    if not open_browser:
        args.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--ServerApp.allow_root=True")
    args += extra_args or []
    print(
        f"mjwidgets demo: JupyterLab on {target / 'quickstart.ipynb'} (embedded simulator)\n"
        f"  token {token} — JupyterLab prints the address below; Ctrl+C stops it",
        flush=True,
    )
    sys.stderr.flush()
    if os.name == "posix":
        # Hand this process over to JupyterLab (same pid): Ctrl+C, SIGTERM from a service
        # manager or `kill <pid>` reach the server itself, which shuts its kernels down. Run
        # as a child instead, it outlived a SIGTERM sent to the demo, kernels and all.
        os.chdir(target)
        os.execve(sys.executable, args, env)
    try:  # no exec that keeps the process (Windows): JupyterLab as a child
        return subprocess.call(args, env=env, cwd=target)
    except KeyboardInterrupt:
        return 0
