"""EDIT and RETEXTURE tasks: `/submit/edits` (alias `/edit`) and `/submit/retexture`.

trueai `ed32197` (`SubmitController.Edits`/`Retexture`, `TaskService.SubmitEdit`/`SubmitRetexture`):
the body is `prompt` and `image` (a URL, a data URL or raw base64 — raw base64 is read as PNG);
both are required ("image或prompt不能为空"); only midjourney.com ("official") and YouChuan
accounts can run them, a Discord account answers code 9 "当前账号不支持编辑/重绘任务". The
uploaded image becomes `baseImageUrl`; a retexture's prompt gets ` --dref <baseImageUrl>`.

The request carries no mask field: in Midjourney's editor the erased part of the image is what
gets repainted, so the simulator repaints the pixels the upload made transparent. As an
extension it also takes `maskBase64` (white = repaint, the Vary (Region) convention). An EDIT
repaints exactly that region and keeps every other pixel bit-identical; a RETEXTURE keeps the
image's structure (light and dark, edges) with the prompt's colours. Without a mask an EDIT
repaints the whole image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from . import refs, render

OPS = ("edit", "retexture")
NOT_ON_DISCORD = "当前账号不支持编辑/重绘任务"


@dataclass
class EditJob:
    image_url: str
    image: Image.Image | None  # None: a URL the simulator cannot load
    mask: Image.Image | None  # L, 255 = repaint


def _decode(value: str):
    from .engine import SimError, decode_base64_image

    value = value.strip()
    if not value.startswith("data:"):
        value = "data:image/png;base64," + value
    try:
        raw = decode_base64_image(value)
    except SimError:
        raise SimError(4, "base64格式错误") from None
    try:
        img = Image.open(io.BytesIO(raw))
        img.load()
    except Exception:
        raise SimError(4, "base64格式错误") from None
    return raw, img


def submit(engine, body: dict, mode: str | None, kind: str) -> tuple[int, str, str, dict]:
    from .engine import SimError

    prompt = str(body.get("prompt") or "").strip()
    image = str(body.get("image") or "").strip()
    if not prompt or not image:
        raise SimError(4, "image或prompt不能为空")
    with engine._lock:
        if image.lower().startswith("http"):
            url, img = image, refs.load(engine, image)
        else:
            raw, img = _decode(image)
            url = engine._attachment_url(engine._store_attachment(raw))
        if engine.media.account == "discord":
            raise SimError(9, NOT_ON_DISCORD)
        mask = None
        mask_value = body.get("maskBase64") or body.get("mask")
        if mask_value and img is not None:
            _, mask_img = _decode(str(mask_value))
            if mask_img.size != img.size:
                raise SimError(
                    4,
                    f"mask is {mask_img.size[0]}x{mask_img.size[1]} but the image is "
                    f"{img.size[0]}x{img.size[1]}: the mask must have the image's exact size",
                )
            mask = mask_img.convert("L").point(lambda v: 255 if v >= 128 else 0)
        elif img is not None and "A" in img.getbands():
            mask = img.getchannel("A").point(lambda v: 255 if v < 128 else 0)
            if mask.getbbox() is None:
                mask = None  # fully opaque: nothing erased
        full = prompt if kind == "edit" else f"{prompt} --dref {url}"
        task = engine._make_task(
            op=kind,
            prompt=full,
            description=f"/{kind} {prompt}",
            body=body,
            bot_type="MID_JOURNEY",
            mode=mode,
        )
        if engine.flavor.name == "newapi" and kind == "edit":  # new-api's own action name
            engine.created_by_action[task.action] -= 1
            task.action = "EDITS"
            engine.created_by_action["EDITS"] = engine.created_by_action.get("EDITS", 0) + 1
        engine.media.edits[task.id] = EditJob(url, img, mask)
        w, h = img.size if img is not None else (512, 512)
        task.size = (2 * w, 2 * h)
        if img is None:
            task.fail_at = 0
            task.fail_reason_planned = f"[Invalid image] could not load {url}"
        code, desc, props = engine._admit(task)
        # new-api's own row, written at submit (relay-mj.go:529-547)
        task.newapi = {"action": task.action, "prompt": prompt, "description": desc}
        return code, desc, task.id, props


def render_grid(engine, task) -> Image.Image:
    job: EditJob = engine.media.edits[task.id]
    if job.image is None:
        raise RuntimeError(
            f"cannot draw {task.op} task {task.id}: {job.image_url} could not be loaded "
            "(such a task fails before it is drawn)"
        )
    base = job.image.convert("RGB")
    text = refs.parse(task.prompt).text
    if task.op == "retexture":
        return render.grid([render.retexture_tile(base, text, task.seed, j) for j in range(1, 5)])
    mask = job.mask if job.mask is not None else Image.new("L", base.size, 255)
    return render.grid([render.inpaint_tile(base, mask, task.seed, j, text) for j in range(1, 5)])
