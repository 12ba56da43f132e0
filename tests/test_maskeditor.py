"""MaskEditor without a browser: mouse events are simulated by calling the canvas handlers with
display coordinates, exactly as ipycanvas does when the front end sends them."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mjwidgets.masks import Clear, Invert, Polygon, Rect, Stroke, rasterize
from mjwidgets.widgets.maskeditor import EMPTY_MESSAGE, MaskEditor

W, H = 2048, 1024  # displayed at 768x384: one display pixel = 8/3 image pixels


@pytest.fixture
def editor():
    image = Image.new("RGB", (W, H), (120, 90, 60))
    return MaskEditor(image, prompt="a red balloon", max_display=(768, 768))


def drag(editor, *points, via_frontend=False):
    """Press at the first point, move through the others, release at the last."""
    if via_frontend:  # the path a real browser message takes through ipycanvas
        handle = editor.canvas[-1]._handle_frontend_event

        def send(event, x, y):
            handle(None, {"event": event, "x": x, "y": y}, [])

        down, move, up = (
            lambda x, y, e=e: send(e, x, y) for e in ("mouse_down", "mouse_move", "mouse_up")
        )
    else:
        down, move, up = editor._on_mouse_down, editor._on_mouse_move, editor._on_mouse_up
    down(*points[0])
    for p in points[1:]:
        move(*p)
    up(*points[-1])


def test_canvas_buffer_fits_max_display_and_its_box_fits_the_cell(editor):
    assert editor.image_size == (W, H)
    assert editor.display_size == (768, 384)
    assert (editor.canvas.width, editor.canvas.height) == (768, 384)
    layout = editor.canvas.layout  # CSS scales the buffer down to the cell, keeping its shape
    assert (layout.width, layout.height, layout.max_width) == ("auto", "auto", "100%")
    assert layout.max_height == "72vh" and layout.align_self == "center"
    assert len(editor.canvas._canvases) == 3


def test_small_images_are_not_enlarged():
    ed = MaskEditor(np.zeros((200, 300, 3), np.uint8))
    assert ed.display_size == (300, 200)
    assert (ed.canvas.width, ed.canvas.layout.width) == (300, "auto")  # its own size at most


def test_rectangle_drag_is_recorded_in_native_pixels(editor):
    drag(editor, (30, 30), (100, 60), (240, 150), via_frontend=True)
    assert editor.ops == [Rect(80, 80, 640, 400)]  # display * 8/3
    mask = editor.mask
    assert mask.mode == "L" and mask.size == (W, H)
    want = np.zeros((H, W), np.uint8)
    want[80:400, 80:640] = 255
    assert np.array_equal(np.asarray(mask), want)
    # the overlay shows the same region at display size
    shown = np.asarray(editor._shown) > 0
    assert shown.shape == (384, 768)
    assert shown[30:150, 30:240].all() and shown.sum() == 120 * 210


def test_rectangle_dragged_up_left_is_normalised(editor):
    drag(editor, (240, 150), (30, 30))
    assert editor.ops == [Rect(80, 80, 640, 400)]


def test_brush_stroke_in_native_pixels_with_native_width(editor):
    editor.tool = "brush"
    editor.brush_size = 24
    drag(editor, (300, 150), (330, 150), (360, 150), (390, 150))
    (op,) = editor.ops
    assert op == Stroke([(800, 400), (880, 400), (960, 400), (1040, 400)], 24)
    column = np.nonzero(np.asarray(editor.mask)[:, 900])[0]
    assert len(column) == 24 and column[0] == 400 - 11


def test_lasso_is_a_polygon_in_native_pixels(editor):
    editor.tool = "lasso"
    display = [(60, 60), (180, 60), (180, 150), (120, 120), (60, 150)]
    drag(editor, *display, via_frontend=True)
    native = [(x * 8 // 3, y * 8 // 3) for x, y in display]  # multiples of 3: exact
    assert editor.ops == [Polygon(native)]
    ref = Image.new("L", (W, H), 0)
    ImageDraw.Draw(ref).polygon(native, fill=255)
    assert np.array_equal(np.asarray(editor.mask), np.asarray(ref))


def test_tiny_lasso_or_click_records_nothing(editor):
    editor.tool = "lasso"
    drag(editor, (10, 10), (11, 10))
    editor.tool = "rect"
    drag(editor, (10, 10), (10, 10))
    assert editor.ops == []


def test_eraser_removes(editor):
    editor.add_op(Rect(0, 0, W, H))
    editor.tool = "eraser"
    editor.brush_size = 30
    drag(editor, (0, 192), (767, 192))
    assert editor.ops[-1] == Stroke([(0, 512), (2045, 512)], 30, erase=True)
    a = np.asarray(editor.mask)
    assert a[512, 1000] == 0 and a[100, 1000] == 255


def test_coordinates_outside_the_canvas_are_clamped(editor):
    drag(editor, (-10, -10), (800, 400))
    assert editor.ops == [Rect(0, 0, W, H)]


def test_undo_redo_one_step_per_stroke(editor):
    editor.tool = "brush"
    drag(editor, (10, 10), (50, 10), (90, 10))
    drag(editor, (10, 100), (50, 100), (90, 100))
    first, second = editor.ops
    editor.undo()
    assert editor.ops == [first]
    editor.undo()
    assert editor.ops == [] and not editor.bar.can_undo
    editor.undo()  # nothing left: no-op
    editor.redo()
    assert editor.ops == [first]
    editor.redo()
    assert editor.ops == [first, second]
    editor.redo()  # nothing to redo: no-op
    assert editor.ops == [first, second]
    editor.undo()
    editor.add_op(Rect(0, 0, 10, 10))  # a new op drops the redo stack
    editor.redo()
    assert editor.ops == [first, Rect(0, 0, 10, 10)]
    assert not editor.bar.can_redo and editor.bar.can_undo


def test_clear_and_invert_are_undoable_steps(editor):
    editor.clear()  # nothing to clear: no step
    assert editor.ops == []
    editor.add_op(Rect(0, 0, 100, 100))
    editor.clear()
    assert editor.ops[-1] == Clear() and not np.asarray(editor.mask).any()
    editor.undo()
    assert np.asarray(editor.mask).any()
    editor.invert()
    assert editor.ops[-1] == Invert()
    inverted = 255 - np.asarray(rasterize([Rect(0, 0, 100, 100)], (W, H)))
    assert np.array_equal(np.asarray(editor.mask), inverted)
    editor.add_op({"type": "clear"})  # dict form works too
    assert editor.ops[-1] == Clear()
    with pytest.raises(TypeError):
        editor.add_op("rect")


def test_many_tiny_moves_are_thinned(editor):
    editor.tool = "brush"
    editor._on_mouse_down(100, 100)
    for i in range(1, 101):
        editor._on_mouse_move(100 + i * 0.5, 100)  # 0.5 display px apart
    editor._on_mouse_up(150, 100)
    assert editor.stats["moves_received"] == 100
    assert 20 <= editor.stats["moves_used"] <= 26  # one in four kept (>= 2 px apart)
    (stroke,) = editor.ops
    assert stroke.points[0] == (266, 266) and stroke.points[-1] == (400, 266)
    # (what a move costs the kernel is a benchmark's: benchmarks/delivery.py, "per move")


def test_hover_moves_are_counted_but_cost_nothing(editor):
    for i in range(50):
        editor._on_mouse_move(i, i)
    assert editor.stats["moves_received"] == 50 and editor.stats["moves_used"] == 0
    assert editor.ops == []


def test_leaving_the_canvas_ends_the_drag(editor):
    editor.tool = "brush"
    editor._on_mouse_down(10, 10)
    editor._on_mouse_move(60, 10)
    editor._on_mouse_out(770, 10)
    assert len(editor.ops) == 1
    editor._on_mouse_move(100, 100)  # later moves without a press draw nothing
    editor._on_mouse_up(100, 100)
    assert len(editor.ops) == 1


def test_keyboard_shortcuts(editor):
    editor.brush_size = 20
    editor._on_key_down("]", False, False, False)
    assert editor.brush_size == 24
    editor._on_key_down("[", False, False, False)
    editor._on_key_down("[", False, False, False)
    assert editor.brush_size < 20
    editor.add_op(Rect(0, 0, 10, 10))
    editor._on_key_down("z", False, True, False)
    assert editor.ops == []
    editor._on_key_down("Z", True, True, False)
    assert editor.ops == [Rect(0, 0, 10, 10)]
    editor._on_key_down("z", False, False, True)  # Cmd+Z
    editor._on_key_down("y", False, True, False)
    assert editor.ops == [Rect(0, 0, 10, 10)]
    editor.tool = "brush"
    editor._on_mouse_down(10, 10)
    editor._on_key_down("Escape", False, False, False)
    editor._on_mouse_up(100, 10)
    assert editor.ops == [Rect(0, 0, 10, 10)]


def press(editor, button):
    """A click on the editor bar's button, as the browser sends it."""
    editor._on_bar_message(editor.bar, {"type": button}, [])


def test_submit_with_an_empty_mask_shows_the_error_and_does_not_call_back(editor):
    calls = []
    editor.on_submit(calls.append)
    press(editor, "submit")
    assert calls == []
    assert editor.error == EMPTY_MESSAGE and editor.bar.error == EMPTY_MESSAGE
    assert editor.bar.state == "", "nothing is being sent"
    editor.add_op(Rect(0, 0, 10, 10))
    editor.clear()  # ops exist but select nothing
    assert editor.submit() is False and calls == []


def test_submit_with_a_mask_calls_back_with_the_editor(editor):
    calls = []
    editor.on_submit(calls.append)
    press(editor, "submit")
    drag(editor, (30, 30), (240, 150))
    assert editor.error == ""  # drawing hides the error
    press(editor, "submit")
    assert calls == [editor]
    assert editor.error == "" and editor.bar.state == "sending", "it says it is sending"
    assert editor.prompt == "a red balloon"
    editor.show_error("the server said no")  # the owner's answer: try again
    assert editor.bar.state == "" and editor.error == "the server said no"


def test_a_second_submit_while_the_first_is_sending_sends_nothing(editor):
    """A double click on Submit is one job: the kernel may hear both clicks before the owner
    has answered the first."""
    calls = []
    editor.on_submit(calls.append)
    drag(editor, (30, 30), (240, 150))
    press(editor, "submit")
    press(editor, "submit")
    assert calls == [editor]
    editor.show_error("the server said no")  # answered: Submit sends again
    press(editor, "submit")
    assert calls == [editor, editor]


def test_a_failing_submit_callback_is_shown(editor):
    def boom(_editor):
        raise RuntimeError("proxy said no")

    editor.on_submit(boom)
    editor.add_op(Rect(0, 0, 10, 10))
    assert editor.submit() is False
    assert editor.error == "submit failed: proxy said no"


def test_cancel_calls_back(editor):
    calls = []
    editor.on_cancel(calls.append)
    press(editor, "cancel")
    assert calls == [editor]
    editor.on_cancel(calls.append, remove=True)
    editor.cancel()
    assert calls == [editor]


def test_prompt_tools_and_css_classes(editor):
    assert editor.prompt == "a red balloon"
    editor.prompt = "a blue kite"
    assert editor.bar.prompt == "a blue kite"
    assert "mjw-mask-editor" in editor._dom_classes
    assert editor.children == (editor.bar, editor.canvas), "the bar above the canvas"
    with pytest.raises(ValueError):
        editor.tool = "spray"
    press(editor, "invert")  # the bar's other buttons
    assert editor.ops == [Invert()]
    press(editor, "undo")
    assert editor.ops == []


def test_mask_data_url_decodes_to_the_mask(editor):
    drag(editor, (30, 30), (240, 150))
    url = editor.mask_data_url()
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (W, H)
    assert np.array_equal(np.asarray(decoded), np.asarray(editor.mask))


def test_image_inputs(tmp_path):
    image = Image.new("RGB", (64, 32), (1, 2, 3))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    path = tmp_path / "img.png"
    path.write_bytes(buf.getvalue())
    for source in (image, np.asarray(image), buf.getvalue(), path, str(path)):
        assert MaskEditor(source).image_size == (64, 32)


def test_overlay_tracks_the_ops_through_undo_and_redo(editor):
    editor.tool = "brush"
    for y in (50, 150, 250):
        drag(editor, (10, y), (300, y + 20), (600, y))
    editor.invert()
    editor.tool = "eraser"
    drag(editor, (0, 0), (700, 380))
    editor.undo()
    editor.undo()
    editor.redo()
    scale = 768 / 2048
    full = rasterize([op.scaled(scale, scale) for op in editor.ops], editor.display_size)
    assert np.array_equal(np.asarray(editor._shown), np.asarray(full))


def test_opacity_repaints_without_changing_the_mask(editor):
    editor.add_op(Rect(0, 0, 100, 100))
    before = editor.ops
    editor.opacity = 0.0
    editor.opacity = 0.8
    assert editor.ops == before and editor.bar.opacity == 0.8


def test_the_selection_shows_as_a_hatch_with_a_two_tone_outline(editor):
    """White and black stripes inside, a white edge and a black edge: visible on any image."""
    editor.add_op(Rect(0, 0, 1024, 512))  # display (0, 0)–(384, 192)
    rgba = editor._overlay_rgba(128)
    inside = rgba[20:170, 20:360]
    assert {tuple(p) for p in inside[..., :3].reshape(-1, 3)} == {(0, 0, 0), (255, 255, 255)}
    assert (inside[..., 3] == 128).all()
    assert tuple(rgba[100, 383]) == (255, 255, 255, 255), "the edge just inside is white"
    assert tuple(rgba[100, 384]) == (0, 0, 0, 255), "the edge just outside is black"
    assert (rgba[250:, 400:, 3] == 0).all(), "nothing drawn outside the selection"
