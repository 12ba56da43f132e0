"""The API's calls that take images or give text: blend, describe, shorten, and uploads.

``ImageCalls`` is a base of ``Client``: each call is one submit through the client's journaled
``_submit`` (the same typed errors and never-resend rules as every other submit). Images are
checked and turned into data URLs by ``media`` before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import media
from .errors import UnsupportedError, ValidationError
from .journal import new_state
from .models import Task
from .prompt import checked_text
from .submitbase import SubmitBase

if TYPE_CHECKING:
    from PIL import Image

    from .capabilities import Capabilities

__all__ = ["ImageCalls", "BLEND_DIMENSIONS"]

BLEND_DIMENSIONS = {
    "PORTRAIT": "PORTRAIT",
    "2:3": "PORTRAIT",
    "SQUARE": "SQUARE",
    "1:1": "SQUARE",
    "LANDSCAPE": "LANDSCAPE",
    "3:2": "LANDSCAPE",
}


class ImageCalls(SubmitBase):
    """``Client.blend``, ``describe``, ``shorten``, ``edit``, ``retexture`` and ``upload``."""

    if TYPE_CHECKING:  # provided by Client
        capabilities: Capabilities

        def image(self, task: Task) -> Image.Image: ...

    def blend(
        self,
        images: Iterable[media.ImageInput],
        *,
        dimensions: str = "SQUARE",
        state: str | None = None,
    ) -> Task:
        """Blend 2–5 images (or finished tasks, e.g. history items); ``dimensions`` PORTRAIT
        (2:3), SQUARE (1:1) or LANDSCAPE (3:2)."""
        items = [self._pixels(item) for item in media.as_list(images)]
        if not 2 <= len(items) <= 5:
            raise ValidationError(
                f"blend takes 2 to 5 images, got {len(items)}", advice="pass between 2 and 5 images"
            )
        shape = BLEND_DIMENSIONS.get(str(dimensions).upper())
        if shape is None:
            raise ValidationError(
                f"unknown dimensions {dimensions!r}", advice="use PORTRAIT, SQUARE or LANDSCAPE"
            )
        state = state or new_state()
        body = {"base64Array": [media.to_data_url(i) for i in items], "dimensions": shape}
        return self._simple_submit("blend", body, "BLEND", state=state)

    def describe(self, image: media.ImageInput, *, state: str | None = None) -> Task:
        """Ask Midjourney for four prompts describing ``image`` (or a finished task's image), in
        ``properties.finalPrompt``."""
        body = {"base64": media.to_data_url(self._pixels(image))}
        return self._simple_submit("describe", body, "DESCRIBE", state=state or new_state())

    def shorten(self, prompt: str, *, state: str | None = None) -> Task:
        """Analyse a prompt and propose shorter ones (Plus/trueai)."""
        text = checked_text(prompt)
        body = {"prompt": text}
        return self._simple_submit(
            "shorten", body, "SHORTEN", state=state or new_state(), text=text
        )

    def _pixels(self, item: Any) -> Any:
        """A finished task stands for its image (a history item blended or described)."""
        return self.image(item) if isinstance(item, Task) else item

    def _simple_submit(
        self, name: str, body: dict[str, Any], action: str, *, state: str, text: str = ""
    ) -> Task:
        def make(code: int, result: Any, props: dict[str, Any], description: str) -> Task:
            return self._new_task(
                code, result, props, description, name=name, action=action, prompt=text,
                state=state,
            )  # fmt: skip

        return self._submitted(self._submit(name, body, state=state, make_task=make))

    def edit(
        self,
        image: media.ImageInput,
        prompt: str,
        *,
        mask: media.ImageInput = None,
        state: str | None = None,
    ) -> Task:
        """Midjourney's editor on any image (``/submit/edits``): repaint the ``mask``'s white
        part (exactly the image's size; none: the image's own transparent pixels) after
        ``prompt``. Sent as the web editor sends it: the image with that part erased.
        ``image`` may be an http(s) URL when there is no mask."""
        return self._editor_submit("edits", "EDIT", image, prompt, mask, state)

    def retexture(self, image: media.ImageInput, prompt: str, *, state: str | None = None) -> Task:
        """Keep the image's shapes, give it the look ``prompt`` says (``/submit/retexture``)."""
        return self._editor_submit("retexture", "RETEXTURE", image, prompt, None, state)

    def _editor_submit(
        self,
        route: str,
        action: str,
        image: media.ImageInput,
        prompt: str,
        mask: media.ImageInput,
        state: str | None,
    ) -> Task:
        text = checked_text(prompt)
        self.capabilities.check_route(route)  # a known refusal costs no request
        is_url = isinstance(image, str) and image.strip().lower().startswith(
            ("http://", "https://")
        )
        if is_url and mask is not None:
            raise ValidationError(
                "a mask needs the image itself, not its URL",
                advice="pass the image (path, bytes, PIL image) with the mask",
            )
        if is_url:
            sent = image.strip()
        elif mask is not None:
            sent = media.erased_data_url(image, mask)
        else:
            sent = media.to_data_url(image)
        try:
            return self._simple_submit(
                route, {"prompt": text, "image": sent}, action, state=state or new_state(),
                text=text,
            )  # fmt: skip
        except UnsupportedError as exc:  # learnt: the editor says so before the next try
            if exc.feature == "the editor":  # the account: neither editor job can run
                source = f"its account cannot edit: “{exc.server_text}”"
                for refused in ("edits", "retexture"):
                    self.capabilities.learn_missing(refused, source)
            raise

    def upload(self, images: Iterable[media.ImageInput] | media.ImageInput) -> list[str]:
        """Upload images to the server's Discord channel; returns their URLs (not journaled)."""
        items = media.as_list(images)
        if not items:
            raise ValidationError("no images to upload", advice="pass at least one image")
        body = {"base64Array": [media.to_data_url(i) for i in items]}
        result, _ = self._submit("upload-discord-images", body, state=None, make_task=None)
        urls = result if isinstance(result, list) else [result] if result else []
        return [str(url) for url in urls]
