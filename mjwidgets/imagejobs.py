"""The Tracker's jobs that start from images or give text: blend, describe, shorten, edit and
retexture.

A base of ``Tracker`` (as ``imagecalls.ImageCalls`` is of ``Client``): each is the client's call
inside the tracker's one paid-submit path (``_paid``: the kernel's, the tracker's and the
caller's budgets asked first, a refused submit given back to them, the task tracked). Edits and
retextures make a grid, so they are priced as one; describe and shorten write text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import costs
from .models import Task

if TYPE_CHECKING:
    from .client import Client

__all__ = ["ImageJobs"]


class ImageJobs:
    """``Tracker.blend``, ``describe``, ``shorten``, ``edit`` and ``retexture``."""

    if TYPE_CHECKING:  # provided by Tracker

        def _require_client(self) -> Client: ...

        def _paid(
            self,
            cost: costs.Estimate | None,
            what: str,
            budget: Any,
            submit: Callable[[], Task],
        ) -> Task: ...

    def blend(self, images: Any, *, dimensions: str = "SQUARE", budget: Any = None) -> Task:
        """``client.blend`` (2–5 images or finished tasks → one grid); tracked, budgets checked."""
        client = self._require_client()
        cost = costs.imagine_cost("", client.mode, job="blend")
        return self._paid(
            cost, "this /blend", budget, lambda: client.blend(images, dimensions=dimensions)
        )

    def describe(self, image: Any, *, budget: Any = None) -> Task:
        """``client.describe`` (an image or a finished task → four prompts); tracked."""
        client = self._require_client()
        cost = costs.imagine_cost("", client.mode, job="describe")
        return self._paid(cost, "this /describe", budget, lambda: client.describe(image))

    def shorten(self, prompt: str, *, budget: Any = None) -> Task:
        """``client.shorten`` (a prompt → shorter ones); tracked."""
        client = self._require_client()
        cost = costs.imagine_cost("", client.mode, job="describe")
        return self._paid(cost, "this /shorten", budget, lambda: client.shorten(prompt))

    def edit(self, image: Any, prompt: str, *, mask: Any = None, budget: Any = None) -> Task:
        """``client.edit`` (repaint the mask's white part of any image); a grid's price."""
        client = self._require_client()
        cost = costs.imagine_cost(prompt, client.mode)
        return self._paid(cost, "this edit", budget, lambda: client.edit(image, prompt, mask=mask))

    def retexture(self, image: Any, prompt: str, *, budget: Any = None) -> Task:
        """``client.retexture`` (the image's shapes, the prompt's look); a grid's price."""
        client = self._require_client()
        cost = costs.imagine_cost(prompt, client.mode)
        return self._paid(cost, "this retexture", budget, lambda: client.retexture(image, prompt))
