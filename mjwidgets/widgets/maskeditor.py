"""MaskEditor: draw a Vary (Region) mask over an image in a notebook cell.

Built on an ipycanvas ``MultiCanvas``: layer 0 shows the image (sent once, at display size),
layer 1 the mask overlay (redrawn from the recorded operations after each committed shape), layer 2
the cheap preview of the drag in progress. Mouse positions arrive in display pixels and are mapped
to the image's native pixels, so ``editor.ops`` and ``editor.mask`` are at native resolution
(see :mod:`mjwidgets.masks` for the coordinate conventions and polarity).

ipycanvas sends every DOM mousemove to the kernel; the handlers drop moves closer than
``MIN_MOVE_PX`` display pixels to the last used point and do only a few arithmetic operations and
one held draw command per used move. ``editor.stats`` counts moves received and used.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np
from ipycanvas import MultiCanvas, hold_canvas
from PIL import Image

from .. import masks
from ..masks import Clear, Invert, Op, Polygon, Rect, Stroke

BRAND_RGB = (25, 118, 210)  # JupyterLab's --jp-brand-color1 (#1976d2)
BRAND = "#1976d2"
ERASER = "#ffffff"
TOOLS = [("Rectangle", "rect"), ("Lasso", "lasso"), ("Brush", "brush"), ("Eraser", "eraser")]
EMPTY_MESSAGE = "the mask is empty: draw the region to repaint"
_OP_CLASSES = (Rect, Polygon, Stroke, Invert, Clear)

Callback = Callable[["MaskEditor"], Any]


def _dedupe(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]


class MaskEditor(W.VBox):
    """Draw the region to repaint over ``image`` (PIL image, NumPy array, bytes, path, data URL).

    Tools: rectangle, lasso (freehand polygon), brush and eraser (size in image pixels; ``[`` and
    ``]`` change it once the canvas has focus), undo/redo (Ctrl+Z / Ctrl+Shift+Z or Ctrl+Y), clear,
    invert and overlay opacity; a prompt box; Submit (refused while the mask is empty) and Cancel.
    """

    MIN_MOVE_PX = 2.0

    def __init__(
        self,
        image: Any,
        *,
        prompt: str = "",
        max_display: tuple[int, int] = (768, 768),
    ) -> None:
        img = masks.open_image(image)
        w, h = img.size
        scale = min(max_display[0] / w, max_display[1] / h, 1.0)  # fit, never enlarge
        dw, dh = max(1, round(w * scale)), max(1, round(h * scale))
        self.image_size = (w, h)
        self.display_size = (dw, dh)
        self.stats = {"moves_received": 0, "moves_used": 0, "move_seconds": 0.0}
        self._ops: list[Op] = []
        self._redo: list[Op] = []
        self._mask_cache: tuple[tuple[Op, ...], Image.Image] | None = None
        self._shown = Image.new("L", (dw, dh), 0)  # the mask at display size, for the overlay
        self._overlay_rgb = [Image.new("L", (dw, dh), c) for c in BRAND_RGB]
        self._drag_tool: str | None = None
        self._drag_points: list[tuple[float, float]] | None = None
        self._min_move2 = self.MIN_MOVE_PX**2
        self._submit_callbacks: list[Callback] = []
        self._cancel_callbacks: list[Callback] = []
        self._error_text = ""
        self._background = np.asarray(img.convert("RGB").resize((dw, dh), Image.Resampling.LANCZOS))

        self.canvas = MultiCanvas(
            3,
            width=dw,
            height=dh,
            layout=W.Layout(width=f"{dw}px", height=f"{dh}px", flex="0 0 auto"),
        )
        self.canvas.on_mouse_down(self._on_mouse_down)
        self.canvas.on_mouse_move(self._on_mouse_move)
        self.canvas.on_mouse_up(self._on_mouse_up)
        self.canvas.on_mouse_out(self._on_mouse_out)
        self.canvas.on_key_down(self._on_key_down)
        self.canvas.on_client_ready(self._redraw_all)

        self._tool = W.ToggleButtons(options=TOOLS, value="rect", style={"button_width": "96px"})
        self._size = W.IntSlider(
            value=max(1, round(min(w, h) / 32)),
            min=1,
            max=max(16, round(max(w, h) / 4)),
            description="Brush px",
            tooltip="brush/eraser size in image pixels ([ and ])",
        )
        self._opacity = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="Overlay")
        self._opacity.observe(lambda _change: self._paint_overlay(), names="value")
        self._undo_button = W.Button(description="Undo", icon="undo", tooltip="Ctrl+Z")
        self._redo_button = W.Button(description="Redo", icon="repeat", tooltip="Ctrl+Shift+Z")
        clear_button = W.Button(description="Clear", icon="eraser")
        invert_button = W.Button(description="Invert", icon="adjust")
        self._undo_button.on_click(lambda _b: self.undo())
        self._redo_button.on_click(lambda _b: self.redo())
        clear_button.on_click(lambda _b: self.clear())
        invert_button.on_click(lambda _b: self.invert())
        self._prompt = W.Textarea(
            value=prompt,
            placeholder="What to put in the selected region (Remix prompt; empty keeps the prompt)",
            layout=W.Layout(width=f"{max(dw, 420)}px"),
        )
        self._prompt.add_class("mjw-mask-prompt")
        self._submit_button = W.Button(description="Submit", button_style="primary", icon="check")
        self._submit_button.add_class("mjw-mask-submit")
        self._cancel_button = W.Button(description="Cancel", icon="times")
        self._cancel_button.add_class("mjw-mask-cancel")
        self._submit_button.on_click(lambda _b: self.submit())
        self._cancel_button.on_click(lambda _b: self.cancel())
        self._error = W.HTML(layout=W.Layout(display="none"))
        self._error.add_class("mjw-mask-error")

        super().__init__(
            children=[
                self.canvas,
                W.HBox([self._tool, self._size]),
                W.HBox([self._undo_button, self._redo_button, clear_button, invert_button]),
                self._opacity,
                self._prompt,
                W.HBox([self._submit_button, self._cancel_button]),
                self._error,
            ]
        )
        self.add_class("mjw-mask-editor")
        self._update_buttons()
        self._redraw_all()

    # ----------------------------------------------------------------- public API
    @property
    def ops(self) -> list[Op]:
        """The committed operations, in native image pixels (a copy)."""
        return list(self._ops)

    @property
    def mask(self) -> Image.Image:
        """The mask at the image's native size: "L", 255 = repaint, 0 = keep."""
        return self._native_mask().copy()

    def mask_data_url(self) -> str:
        """``data:image/png;base64,…`` of :attr:`mask`, for ``client.modal(…, mask=…)``."""
        return masks.to_data_url(self._native_mask())

    @property
    def prompt(self) -> str:
        return self._prompt.value

    @prompt.setter
    def prompt(self, value: str) -> None:
        self._prompt.value = value

    @property
    def tool(self) -> str:
        return self._tool.value

    @tool.setter
    def tool(self, value: str) -> None:
        self._tool.value = value

    @property
    def brush_size(self) -> int:
        return self._size.value

    @brush_size.setter
    def brush_size(self, value: int) -> None:
        self._size.value = min(max(int(value), self._size.min), self._size.max)

    @property
    def error(self) -> str:
        """The error message shown under the buttons ("" when none)."""
        return self._error_text if self._error.layout.display != "none" else ""

    def on_submit(self, callback: Callback, remove: bool = False) -> None:
        """Call ``callback(editor)`` when Submit is pressed with a non-empty mask."""
        _register(self._submit_callbacks, callback, remove)

    def on_cancel(self, callback: Callback, remove: bool = False) -> None:
        """Call ``callback(editor)`` when Cancel is pressed."""
        _register(self._cancel_callbacks, callback, remove)

    def add_op(self, op: Op | dict[str, Any]) -> None:
        """Commit one operation (or its ``to_dict()`` form): one undo step."""
        if isinstance(op, dict):
            op = masks.op_from_dict(op)
        if not isinstance(op, _OP_CLASSES):
            raise TypeError(f"not a mask operation: {op!r}")
        self._ops.append(op)
        self._redo.clear()
        self._changed(op)

    def undo(self) -> None:
        if self._ops:
            self._redo.append(self._ops.pop())
            self._changed()

    def redo(self) -> None:
        if self._redo:
            self._ops.append(self._redo.pop())
            self._changed(self._ops[-1])

    def clear(self) -> None:
        """Select nothing (undoable)."""
        if not masks.is_empty(self._native_mask()):
            self.add_op(Clear())

    def invert(self) -> None:
        """Swap the selected and kept regions (undoable)."""
        self.add_op(Invert())

    def submit(self) -> bool:
        """What the Submit button does: refuse an empty mask, else call the submit callbacks."""
        if masks.is_empty(self._native_mask()):
            self._show_error(EMPTY_MESSAGE)
            return False
        self._show_error("")
        for callback in list(self._submit_callbacks):
            try:
                callback(self)
            except Exception as exc:  # button callbacks' errors are otherwise invisible
                self._show_error(f"submit failed: {exc}")
                return False
        return True

    def cancel(self) -> None:
        """What the Cancel button does: call the cancel callbacks."""
        self._show_error("")
        for callback in list(self._cancel_callbacks):
            try:
                callback(self)
            except Exception as exc:
                self._show_error(f"cancel failed: {exc}")

    # ----------------------------------------------------------------- mouse and keys
    def _on_mouse_down(self, x: float, y: float) -> None:
        if self._drag_points is not None:  # the last drag lost its mouse-up
            self._on_mouse_up(*self._drag_points[-1])
        tool = self._tool.value
        self._drag_tool, self._drag_points = tool, [(x, y)]
        layer = self.canvas[2]
        with hold_canvas():
            layer.clear()
            if tool in ("brush", "eraser"):
                color = ERASER if tool == "eraser" else BRAND
                width = max(1.0, self._size.value * self.display_size[0] / self.image_size[0])
                layer.stroke_style = color
                layer.fill_style = color
                layer.line_width = width
                layer.line_cap = "round"
                layer.line_join = "round"
                layer.fill_circle(x, y, width / 2)
            else:
                layer.stroke_style = BRAND
                layer.line_width = 2
                layer.line_cap = "round"
                layer.line_join = "round"

    def _on_mouse_move(self, x: float, y: float) -> None:
        t0 = time.perf_counter()
        stats = self.stats
        stats["moves_received"] += 1
        points = self._drag_points
        if points is not None:
            lx, ly = points[-1]
            if (x - lx) ** 2 + (y - ly) ** 2 >= self._min_move2:
                points.append((x, y))
                stats["moves_used"] += 1
                layer = self.canvas[2]
                with hold_canvas():
                    if self._drag_tool == "rect":
                        x0, y0 = points[0]
                        layer.clear()
                        layer.stroke_rect(min(x0, x), min(y0, y), abs(x - x0), abs(y - y0))
                    else:
                        layer.stroke_line(lx, ly, x, y)
        stats["move_seconds"] += time.perf_counter() - t0

    def _on_mouse_up(self, x: float, y: float) -> None:
        points, tool = self._drag_points, self._drag_tool
        if points is None:
            return
        self._drag_points = self._drag_tool = None
        if (x, y) != points[-1]:
            points.append((x, y))
        op = self._make_op(tool, points)
        if op is None:
            self.canvas[2].clear()
        else:
            self.add_op(op)

    _on_mouse_out = _on_mouse_up  # leaving the canvas ends the drag (its mouse-up never comes)

    def _on_key_down(self, key: str, shift: bool = False, ctrl: bool = False, meta: bool = False):
        k = key.lower()
        if ctrl or meta:
            if k == "z" and not shift:
                self.undo()
            elif k == "y" or (k == "z" and shift):
                self.redo()
        elif key in ("[", "]"):
            size = self._size.value
            step = max(1, round(size * 0.2))
            self.brush_size = size + step if key == "]" else size - step
        elif key == "Escape" and self._drag_points is not None:
            self._drag_points = self._drag_tool = None
            self.canvas[2].clear()

    # ----------------------------------------------------------------- internals
    def _native_point(self, x: float, y: float) -> tuple[int, int]:
        """The native pixel under display point (x, y)."""
        (w, h), (dw, dh) = self.image_size, self.display_size
        return (
            min(max(int(x * w / dw + 1e-9), 0), w - 1),
            min(max(int(y * h / dh + 1e-9), 0), h - 1),
        )

    def _native_edge(self, x: float, y: float) -> tuple[int, int]:
        """The native pixel edge nearest display point (x, y) (for rectangle corners)."""
        (w, h), (dw, dh) = self.image_size, self.display_size
        return min(max(round(x * w / dw), 0), w), min(max(round(y * h / dh), 0), h)

    def _make_op(self, tool: str | None, points: list[tuple[float, float]]) -> Op | None:
        if tool == "rect":
            (x0, y0), (x1, y1) = self._native_edge(*points[0]), self._native_edge(*points[-1])
            return Rect(x0, y0, x1, y1) if x0 != x1 and y0 != y1 else None
        native = _dedupe([self._native_point(x, y) for x, y in points])
        if tool == "lasso":
            return Polygon(tuple(native)) if len(set(native)) >= 3 else None
        if tool in ("brush", "eraser"):
            return Stroke(tuple(native), self._size.value, erase=tool == "eraser")
        return None

    def _native_mask(self) -> Image.Image:
        key = tuple(self._ops)
        if self._mask_cache is None or self._mask_cache[0] != key:
            self._mask_cache = (key, masks.rasterize(key, self.image_size))
        return self._mask_cache[1]

    def _changed(self, added: Op | None = None) -> None:
        """Update buttons and overlay after ``added`` was appended (None: anything else changed)."""
        self._show_error("")
        self._update_buttons()
        (w, h), (dw, dh) = self.image_size, self.display_size
        if added is not None:  # draw just the new op on the display-size mask
            self._shown = masks.apply_ops(self._shown, [added.scaled(dw / w, dh / h)])
        else:
            self._shown = masks.rasterize([op.scaled(dw / w, dh / h) for op in self._ops], (dw, dh))
        self._paint_overlay()

    def _paint_overlay(self) -> None:
        alpha = round(self._opacity.value * 255)
        layer = self.canvas[1]
        with hold_canvas():
            layer.clear()
            self.canvas[2].clear()
            if alpha and self._shown.getbbox() is not None:
                rgba = Image.merge(
                    "RGBA", [*self._overlay_rgb, self._shown.point([0] + [alpha] * 255)]
                )
                layer.put_image_data(np.asarray(rgba), 0, 0)

    def _redraw_all(self) -> None:
        with hold_canvas():
            self.canvas[0].put_image_data(self._background, 0, 0)
        self._paint_overlay()

    def _update_buttons(self) -> None:
        self._undo_button.disabled = not self._ops
        self._redo_button.disabled = not self._redo

    def _show_error(self, message: str) -> None:
        self._error_text = message
        self._error.value = (
            f'<span style="color: var(--jp-error-color1, #d32f2f)">{html.escape(message)}</span>'
        )
        self._error.layout.display = None if message else "none"


def _register(callbacks: list[Callback], callback: Callback, remove: bool) -> None:
    if remove:
        if callback in callbacks:
            callbacks.remove(callback)
    elif callback not in callbacks:
        callbacks.append(callback)
