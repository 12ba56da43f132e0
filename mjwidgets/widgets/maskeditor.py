"""MaskEditor: draw a Vary (Region) mask over an image in a notebook cell.

Built on an ipycanvas ``MultiCanvas``: layer 0 shows the image (sent once, at display size),
layer 1 the mask overlay (redrawn from the recorded operations after each committed shape), layer 2
the cheap preview of the drag in progress. Mouse positions arrive in display pixels and are mapped
to the image's native pixels, so ``editor.ops`` and ``editor.mask`` are at native resolution
(see :mod:`mjwidgets.masks` for the coordinate conventions and polarity).

The canvas is scaled by CSS to fit its cell (ipycanvas maps mouse positions back to its pixel
buffer), so the editor covers the whole image in a narrow pane too. The selection shows as a
black-and-white hatch with a white-and-black outline: visible on any image, light or dark. The
tools, the prompt and Submit are one small anywidget (js/maskeditor.js) styled like the cards.

ipycanvas sends every DOM mousemove to the kernel; the handlers drop moves closer than
``MIN_MOVE_PX`` display pixels to the last used point and do only a few arithmetic operations and
one held draw command per used move. ``editor.stats`` counts moves received and used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np
import traitlets
from ipycanvas import MultiCanvas, hold_canvas
from PIL import Image, ImageFilter

from .. import masks
from ..masks import Clear, Invert, Op, Polygon, Rect, Stroke
from .plumbing import FrontEndWidget, front_end

BRAND = "#1976d2"  # JupyterLab's --jp-brand-color1: the drag preview
ERASER = "#ffffff"
TOOLS = [("Rectangle", "rect"), ("Lasso", "lasso"), ("Brush", "brush"), ("Eraser", "eraser")]
EMPTY_MESSAGE = "the mask is empty: draw the region to repaint"
HATCH_PX = 6  # width of the overlay's diagonal stripes, in display pixels
_OP_CLASSES = (Rect, Polygon, Stroke, Invert, Clear)

Callback = Callable[["MaskEditor"], Any]


class _EditorBar(FrontEndWidget):
    """The editor's instructions, tools, prompt and Submit (js/maskeditor.js)."""

    _esm = front_end(
        "common.js",
        "maskeditor.js",
        styles=("mjwidgets.css", "maskeditor.css"),
    )

    title = traitlets.Unicode("Vary (Region)").tag(sync=True)  # what the Submit will do
    tool = traitlets.Unicode("rect").tag(sync=True)
    brush_size = traitlets.Int(16).tag(sync=True)
    brush_max = traitlets.Int(256).tag(sync=True)
    opacity = traitlets.Float(0.5).tag(sync=True)
    prompt = traitlets.Unicode("").tag(sync=True)
    can_undo = traitlets.Bool(False).tag(sync=True)
    can_redo = traitlets.Bool(False).tag(sync=True)
    state = traitlets.Unicode("").tag(sync=True)  # "" | "sending"
    error = traitlets.Unicode("").tag(sync=True)
    image_size = traitlets.List[Any]().tag(sync=True)


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
        title: str = "Vary (Region)",
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
        yy, xx = np.mgrid[0:dh, 0:dw]
        self._hatch = ((xx + yy) // HATCH_PX) % 2 == 0  # diagonal stripes, black and white
        self._drag_tool: str | None = None
        self._drag_points: list[tuple[float, float]] | None = None
        self._min_move2 = self.MIN_MOVE_PX**2
        self._submit_callbacks: list[Callback] = []
        self._cancel_callbacks: list[Callback] = []
        self._background = np.asarray(img.convert("RGB").resize((dw, dh), Image.Resampling.LANCZOS))

        # The pixel buffer is display-sized; CSS scales it down to the cell (never up), keeping
        # its shape, and no taller than most of the window so the whole image is in view.
        self.canvas = MultiCanvas(
            3,
            width=dw,
            height=dh,
            layout=W.Layout(
                width="auto",
                height="auto",
                max_width="100%",
                max_height="72vh",
                align_self="center",
                flex="0 0 auto",
            ),
        )
        self.canvas.add_class("mjw-mask-canvas")
        self.canvas.on_mouse_down(self._on_mouse_down)
        self.canvas.on_mouse_move(self._on_mouse_move)
        self.canvas.on_mouse_up(self._on_mouse_up)
        self.canvas.on_mouse_out(self._on_mouse_out)
        self.canvas.on_key_down(self._on_key_down)
        self.canvas.on_client_ready(self._redraw_all)

        self.bar = _EditorBar(
            title=title,
            prompt=prompt,
            brush_size=max(1, round(min(w, h) / 32)),
            brush_max=max(16, round(max(w, h) / 4)),
            image_size=[w, h],
        )
        self.bar.observe(lambda _change: self._paint_overlay(), names="opacity")
        self.bar.on_msg(self._on_bar_message)

        super().__init__(children=[self.bar, self.canvas])
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
        return self.bar.prompt

    @prompt.setter
    def prompt(self, value: str) -> None:
        self.bar.prompt = value

    @property
    def tool(self) -> str:
        return self.bar.tool

    @tool.setter
    def tool(self, value: str) -> None:
        if value not in dict((v, k) for k, v in TOOLS):
            raise ValueError(f"unknown tool {value!r}: use {', '.join(v for _, v in TOOLS)}")
        self.bar.tool = value

    @property
    def brush_size(self) -> int:
        return self.bar.brush_size

    @brush_size.setter
    def brush_size(self, value: int) -> None:
        self.bar.brush_size = min(max(int(value), 1), self.bar.brush_max)

    @property
    def opacity(self) -> float:
        """How strongly the selection's hatch covers the image (0–1)."""
        return self.bar.opacity

    @opacity.setter
    def opacity(self, value: float) -> None:
        self.bar.opacity = min(max(float(value), 0.0), 1.0)

    @property
    def error(self) -> str:
        """The error message shown in the editor ("" when none)."""
        return self.bar.error

    def show_error(self, message: str) -> None:
        """Show why a submit did not go through, and let the person try again."""
        self._show_error(message)

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
        """What the Submit button does: refuse an empty mask, else call the submit callbacks.

        The editor then says "Sending…" until its owner closes it or calls ``show_error``;
        meanwhile a second Submit (a double click's second click) sends nothing more."""
        if self.bar.state == "sending":
            return False  # its job is on its way: one click, one job
        if masks.is_empty(self._native_mask()):
            self._show_error(EMPTY_MESSAGE)
            return False
        self._show_error("")
        if self._submit_callbacks:
            self.bar.state = "sending"
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

    # ----------------------------------------------------------------- the bar's buttons
    def _on_bar_message(self, _widget: Any, content: dict, _buffers: Any) -> None:
        actions: dict[str, Callable[[], Any]] = {
            "undo": self.undo,
            "redo": self.redo,
            "clear": self.clear,
            "invert": self.invert,
            "submit": self.submit,
            "cancel": self.cancel,
        }
        action = actions.get(str(content.get("type")))
        if action is not None:
            action()

    # ----------------------------------------------------------------- mouse and keys
    def _on_mouse_down(self, x: float, y: float) -> None:
        if self._drag_points is not None:  # the last drag lost its mouse-up
            self._on_mouse_up(*self._drag_points[-1])
        tool = self.bar.tool
        self._drag_tool, self._drag_points = tool, [(x, y)]
        layer = self.canvas[2]
        with hold_canvas():
            layer.clear()
            if tool in ("brush", "eraser"):
                color = ERASER if tool == "eraser" else BRAND
                width = max(1.0, self.bar.brush_size * self.display_size[0] / self.image_size[0])
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
            size = self.bar.brush_size
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
            return Stroke(tuple(native), self.bar.brush_size, erase=tool == "eraser")
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
        """The selection as a black-and-white diagonal hatch (at the chosen opacity) inside a
        white line with a black line outside it: it shows on any image, light or dark."""
        alpha = round(self.bar.opacity * 255)
        layer = self.canvas[1]
        with hold_canvas():
            layer.clear()
            self.canvas[2].clear()
            if self._shown.getbbox() is not None:
                layer.put_image_data(self._overlay_rgba(alpha), 0, 0)

    def _overlay_rgba(self, alpha: int) -> np.ndarray:
        inside = np.asarray(self._shown) > 0
        shrunk = np.asarray(self._shown.filter(ImageFilter.MinFilter(3))) > 0
        grown = np.asarray(self._shown.filter(ImageFilter.MaxFilter(3))) > 0
        rgba = np.zeros((*inside.shape, 4), np.uint8)
        stripes = inside & self._hatch
        rgba[stripes, :3] = 255
        rgba[inside, 3] = alpha
        rgba[inside & ~shrunk] = (255, 255, 255, 255)  # the edge, just inside
        rgba[grown & ~inside] = (0, 0, 0, 255)  # and just outside it
        return rgba

    def _redraw_all(self) -> None:
        with hold_canvas():
            self.canvas[0].put_image_data(self._background, 0, 0)
        self._paint_overlay()

    def _update_buttons(self) -> None:
        with self.bar.hold_sync():
            self.bar.can_undo = bool(self._ops)
            self.bar.can_redo = bool(self._redo)

    def _show_error(self, message: str) -> None:
        with self.bar.hold_sync():
            self.bar.error = message
            if message:
                self.bar.state = ""


def _register(callbacks: list[Callback], callback: Callback, remove: bool) -> None:
    if remove:
        if callback in callbacks:
            callbacks.remove(callback)
    elif callback not in callbacks:
        callbacks.append(callback)
