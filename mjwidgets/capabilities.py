"""What the connected server can do: its family, its routes, and the buttons it relays.

Four server families speak ``/mj``, and they differ in what they offer (reference mj-proxy-api
§1.2, mj-2026 §2–3): the open-source midjourney-proxy has no buttons at all, new-api relays have
no cancel and refuse every button they cannot bill (Animate, video U, describe and shorten picks,
❤️) with HTTP 400 ``unknown_action``, trueai refuses ❤️ and shorten picks with code 4 "未知的
Action 类型". A card that offers what its server refuses wastes a click and a round trip, so the
client keeps one ``Capabilities`` object per server (``client.capabilities``) and every widget
asks it before showing a button as pressable.

How it knows, cheapest first:

* **Declared**: ``Client(flavor=…)`` or ``MJ_FLAVOR`` (plus | trueai | newapi | oss) says it
  outright; the embedded simulator declares its own flavour.
* **Learnt from answers the client gets anyway** — never from a probing request: the dialect of
  replies (new-api's ``new_api_error`` bodies and ``X-Oneapi-Request-Id`` header, trueai's
  plain-text 401 and upper-case ``\\uXXXX`` escapes, Spring's JSON error pages), the fields of
  task JSON (trueai's ``isCompleted``/``displays``, new-api's ``maskBase64``, OSS tasks without
  ``buttons``), a 404/405 on a route (that route is missing), and a refusal of a button (that
  button, and its family, is refused from now on).

It sends no request of its own (not even a free GET): everything it knows came with an answer a
person asked for. What it learnt can be saved and restored (``export``/``restore``; the Tracker
keeps it in the history file, so a new kernel knows it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from .errors import MJError, UnsupportedError, ValidationError
from .models import Button
from .replies import ROUTES, Reply, route_of, server_family
from .wording import button_instead, button_name, route_instead

__all__ = ["FLAVORS", "ROUTES", "Capabilities", "Verdict", "route_of", "button_family"]

FLAVORS = ("plus", "trueai", "newapi", "oss")
_ALIASES = {"new-api": "newapi", "deerapi": "newapi", "midjourney-proxy": "oss", "novicezk": "oss"}
FLAVOR_NAMES = {
    "plus": "midjourney-proxy-plus",
    "trueai": "trueai's midjourney-proxy",
    "newapi": "a new-api relay",
    "oss": "the open-source midjourney-proxy",
}
_ALL = frozenset(ROUTES)
# Every /mj server has these: a 404 there means a wrong MJ_BASE_URL (or a proxy in front that is
# down), not a missing feature, so it is never learnt (nor remembered) as one.
_CORE_ROUTES = frozenset({"imagine", "fetch"})
# The routes each family serves (mj-proxy-api §1.2; mj-2026 §2: trueai SubmitController.cs,
# TaskController.cs; new-api router/relay-router.go; OSS SubmitController.java). Plus is closed:
# its docs list every route; what they leave open is assumed present until a 404 says otherwise.
_FAMILY_ROUTES: dict[str, frozenset[str]] = {
    "plus": _ALL,
    "trueai": _ALL - {"change"},
    "newapi": _ALL - {"cancel", "retexture"},
    "oss": frozenset({"imagine", "change", "blend", "describe", "fetch", "list-by-condition"}),
}
# trueai's /submit/action maps only these customId prefixes (SubmitController.cs:520-688);
# anything else gets code 4 "未知的 Action 类型".
_TRUEAI_PREFIXES = (
    "MJ::JOB::upsample::",
    "MJ::JOB::video_virtual_upscale",
    "MJ::JOB::variation::",
    "MJ::JOB::reroll::",
    "MJ::JOB::high_variation::",
    "MJ::JOB::low_variation::",
    "MJ::Outpaint::",
    "MJ::JOB::pan_",
    "MJ::JOB::upsample_",
    "MJ::CustomZoom::",
    "MJ::Inpaint::",
    "MJ::JOB::animate_",
    "MJ::Job::PicReader",
)


def _trueai_relays(custom_id: str) -> bool:
    return custom_id.startswith(_TRUEAI_PREFIXES) or "MJ::Picread::Retry" in custom_id


def _newapi_relays(custom_id: str) -> bool:
    """new-api bills a press only when it can name it (service/midjourney.go:71-128
    CoverPlusActionToNormalAction); the distributor refuses every other customId."""
    parts = custom_id.split("::")
    if len(parts) < 3:
        return False
    name = parts[2] if parts[1] == "JOB" else parts[1]
    return any(word in name for word in ("upsample", "variation", "pan", "reroll")) or name in (
        "Outpaint",
        "CustomZoom",
        "Inpaint",
    )


_FAMILY_RELAYS: dict[str, Callable[[str], bool]] = {
    "trueai": _trueai_relays,
    "newapi": _newapi_relays,
}


def button_family(custom_id: str) -> str:
    """The part of a customId that names what the button does, without the job's hash or the
    tile number ("MJ::JOB::animate_high::1::<hash>::SOLO" → "MJ::JOB::animate_high"): a server
    that refuses one Animate (High motion) refuses it on every image."""
    parts = custom_id.split("::")
    if len(parts) >= 3 and parts[1].upper() == "JOB":
        return "::".join(parts[:3])
    if len(parts) >= 3 and parts[1] == "Picread":
        return "::".join(parts[:3])
    return "::".join(parts[:2])


class Verdict(NamedTuple):
    """Whether the server can press a button: ``(ok, reason)``; the reason is one line for
    people when ``ok`` is False (and says where the knowledge came from)."""

    ok: bool
    reason: str = ""


def _declared_flavor(flavor: str | None) -> str | None:
    if flavor is None or not str(flavor).strip():
        return None
    name = str(flavor).strip().lower()
    name = _ALIASES.get(name, name)
    if name not in FLAVORS:
        raise ValidationError(
            f"unknown server flavour {flavor!r}",
            advice=f"use one of {', '.join(FLAVORS)} (MJ_FLAVOR or Client(flavor=…))",
        )
    return name


class Capabilities:
    """What one server can do, declared or learnt (see the module docstring).

    ``flavor`` is the family ("plus", "trueai", "newapi", "oss") or None while unknown;
    ``can(route)`` and ``accepts(button)`` answer from what is known and assume "yes" where
    nothing is (a refusal then teaches it). Thread-safe: the poller and submit threads both
    feed it.
    """

    def __init__(self, server: str, flavor: str | None = None) -> None:
        self.server = server
        self._declared = _declared_flavor(flavor)
        self._lock = threading.RLock()
        # (flavour, what showed it, strong): weak evidence (what a relay may pass through from
        # its upstream, or the absence of other families' marks) gives way to strong evidence
        self._learnt: tuple[str, str, bool] | None = None
        self._java = False  # a Spring reply was seen: OSS or Plus
        self._routes: dict[str, tuple[bool, str]] = {}  # learnt: route → (present, source)
        self._refused: dict[str, tuple[str, str]] = {}  # button family → (name, source)
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    # -- what is known ---------------------------------------------------------------------

    @property
    def flavor(self) -> str | None:
        """The server family: declared, else learnt from its answers, else None."""
        with self._lock:
            if self._declared:
                return self._declared
            return self._learnt[0] if self._learnt else None

    @property
    def flavor_source(self) -> str:
        """How the flavour is known ("declared", or the answer that showed it)."""
        with self._lock:
            if self._declared:
                return "declared (MJ_FLAVOR / Client(flavor=…))"
            return self._learnt[1] if self._learnt else "not known yet"

    def _where(self) -> str:
        flavor = self.flavor
        return FLAVOR_NAMES.get(flavor or "", "this server")

    def can(self, route: str) -> bool:
        """Whether the server offers ``route`` (one of ROUTES): False only when known."""
        return self.why_not(route) == ""

    def why_not(self, route: str) -> str:
        """'' when ``route`` is available (or nothing says otherwise), else why not."""
        if route not in _ALL:
            raise ValidationError(f"unknown route {route!r}", advice=f"use one of {ROUTES}")
        with self._lock:
            learnt = self._routes.get(route)
            if learnt is not None:
                present, source = learnt
                return "" if present else f"{route} is missing at this server ({source})"
            flavor = self.flavor
        if flavor and route not in _FAMILY_ROUTES[flavor]:
            return f"{FLAVOR_NAMES[flavor]} has no {route} route"
        return ""

    def known_to_have(self, route: str) -> bool:
        """True only when the server is known to offer ``route`` (its declared or learnt
        family serves it, or it answered there): where a guess would cost a failed request."""
        if self.why_not(route):
            return False
        with self._lock:
            learnt = self._routes.get(route)
        if learnt is not None:
            return learnt[0]
        flavor = self.flavor
        return flavor is not None and route in _FAMILY_ROUTES[flavor]

    def accepts(self, button: Button) -> Verdict:
        """Whether pressing ``button`` can work here: ``(True, "")`` or ``(False, reason)``."""
        name = button_name(button)
        missing = self.why_not("action")
        if missing:
            return Verdict(False, f"{missing} — {route_instead('action')}")
        family = button_family(button.custom_id)
        with self._lock:
            refused = self._refused.get(family)
        flavor = self.flavor
        if refused is not None:
            return Verdict(
                False,
                f"{name} was refused by this server ({refused[1]}) — "
                f"{button_instead(button, flavor)}",
            )
        if button.needs_modal and not self.can("modal"):
            return Verdict(False, f"{name} needs a dialog, and {self.why_not('modal')}")
        rule = _FAMILY_RELAYS.get(flavor or "")
        if rule is not None and not rule(button.custom_id):
            return Verdict(
                False,
                f"{name} is not available at {FLAVOR_NAMES[flavor or '']} — "
                f"{button_instead(button, flavor)}",
            )
        return Verdict(True, "")

    def check_route(self, route: str, feature: str | None = None) -> None:
        """Raise UnsupportedError, before anything is sent, when ``route`` is known missing."""
        why = self.why_not(route)
        if why:
            raise UnsupportedError(why, feature=feature or route, instead=route_instead(route))

    def check_button(self, button: Button) -> None:
        """Raise UnsupportedError, before anything is sent, when the server refuses it."""
        verdict = self.accepts(button)
        if verdict.ok:
            return
        name = button_name(button)
        missing = self.why_not("action")
        if missing:
            raise UnsupportedError(missing, feature=name, instead=route_instead("action"))
        raise UnsupportedError(
            f"{name} is not available at {FLAVOR_NAMES.get(self.flavor or '', 'this server')}",
            feature=name,
            instead=verdict.reason.split(" — ", 1)[-1],
        )

    def refusal(self, error: UnsupportedError, button: Button) -> UnsupportedError:
        """The error to raise when the server refused ``button``, naming it for people; the
        refusal is learnt (its family is refused from now on). A missing route passes as is."""
        if error.http_status in (404, 405):
            return error
        self.learn_refusal(button, error)
        name = button_name(button)
        return UnsupportedError(
            f"{name} is not available at this server",
            feature=name,
            instead=button_instead(button, self.flavor),
            server_text=error.server_text,
            code=error.code,
            http_status=error.http_status,
            endpoint=error.endpoint,
            state=error.state,
        )

    # -- learning ----------------------------------------------------------------------------

    def check_request(self, method: str, path: str) -> None:
        """Refuse, before it is sent, a request to a route known to be missing (the
        transport asks this for every request)."""
        route = route_of(path)
        if route is not None:
            self.check_route(route)

    def observe_reply(self, method: str, path: str, reply: Reply) -> None:
        """Learn from any API reply (the transport calls this for every one)."""
        family = server_family(reply)
        route = route_of(path)
        data = reply.json
        if route in ("fetch", "list-by-condition") and reply.status == 200:
            for item in data if isinstance(data, list) else [data]:
                self.observe_task(item)
        if family in ("trueai", "newapi"):
            # new-api relays pass their upstream's bodies through: a trueai dialect outside the
            # server's own 401 may be the upstream's, and gives way to the relay's own marks
            strong = family == "newapi" or reply.status in (401, 403)
            source = f"the dialect of its reply to {method} {path}"
            self._learn_flavor(family, source, strong=strong)
        elif family == "spring":
            with self._lock:
                self._java = True
        if route is None or route in _CORE_ROUTES:
            return
        enveloped = isinstance(reply.json, dict) and "code" in reply.json
        if reply.status in (404, 405) and not enveloped:
            self._learn_route(route, False, f"HTTP {reply.status} from {method} {path}")
            if route == "action" and (self._java or family == "spring"):
                self._learn_flavor("oss", f"no /submit/action (HTTP {reply.status})")
        elif 200 <= reply.status < 300 and not self.can(route):
            self._learn_route(route, True, f"HTTP {reply.status} from {method} {path}")

    def observe_task(self, data: dict[str, Any]) -> None:
        """Learn the family from the fields of a task's JSON (cheap: a few key lookups): the
        server's own task object, so its marks are strong evidence."""
        with self._lock:
            settled = self._declared is not None or (self._learnt is not None and self._learnt[2])
        if settled or not isinstance(data, dict) or "id" not in data:
            return
        if "isCompleted" in data and "displays" in data:  # trueai Models/TaskInfo.cs
            self._learn_flavor("trueai", "the fields of its task JSON (isCompleted, displays)")
        elif "maskBase64" in data:  # new-api dto/midjourney.go MidjourneyDto
            self._learn_flavor("newapi", "the fields of its task JSON (maskBase64)")
        elif "status" in data and "buttons" not in data:  # OSS support/Task.java
            self._learn_flavor("oss", "its task JSON has no buttons field")
        elif "buttons" in data and self.flavor is None:  # Plus docs/api.md §1, and no more
            source = "its task JSON (buttons; no trueai or new-api fields)"
            self._learn_flavor("plus", source, strong=False)

    def learn_refusal(self, button: Button, error: MJError) -> None:
        """A server refused ``button`` (UnsupportedError): it refuses its family from now on."""
        text = getattr(error, "server_text", "") or error.description
        source = f"it answered “{text}”" if text else f"HTTP {error.http_status}"
        family = button_family(button.custom_id)
        with self._lock:
            self._refused[family] = (button_name(button), source)
        self._changed()

    def learn_missing(self, route: str, source: str) -> None:
        """The server (or its account) refused ``route`` outright: refuse it before sending
        from now on (e.g. trueai's Discord accounts and the editor's jobs)."""
        self._learn_route(route, False, source)

    def _learn_flavor(self, flavor: str, source: str, *, strong: bool = True) -> None:
        with self._lock:
            known = self._learnt
            if known is not None:
                if known[2] and not strong:
                    return  # weak evidence never overrides strong
                if known[0] == flavor and (known[2] or not strong):
                    return  # nothing new
            self._learnt = (flavor, source, strong)
        self._changed()

    def _learn_route(self, route: str, present: bool, source: str) -> None:
        with self._lock:
            if self._routes.get(route, (None,))[0] == present:
                return
            self._routes[route] = (present, source)
        self._changed()

    # -- remembering -------------------------------------------------------------------------

    def on_change(self, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``callback(export())`` whenever something new is learnt; returns an
        unsubscribe function."""
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def _changed(self) -> None:
        facts = self.export()
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(facts)
            except Exception:  # a failing store must not break a request
                pass

    def export(self) -> dict[str, Any]:
        """What was learnt (not what was declared), as JSON-able data."""
        with self._lock:
            return {
                "flavor": list(self._learnt) if self._learnt else None,  # [name, source, strong]
                "routes": {route: list(fact) for route, fact in self._routes.items()},
                "refused": {family: list(fact) for family, fact in self._refused.items()},
                "at": time.time(),
            }

    def restore(self, facts: dict[str, Any] | None) -> None:
        """Take what an earlier session learnt (``export()``); newer knowledge wins."""
        if not facts:
            return
        with self._lock:
            flavor = facts.get("flavor")
            if self._learnt is None and isinstance(flavor, list) and len(flavor) >= 2:
                if flavor[0] in FLAVORS:
                    strong = bool(flavor[2]) if len(flavor) > 2 else True
                    self._learnt = (str(flavor[0]), f"{flavor[1]} (remembered)", strong)
            for route, fact in (facts.get("routes") or {}).items():
                if route in _ALL and route not in self._routes and len(fact) == 2:
                    self._routes[route] = (bool(fact[0]), str(fact[1]))
            for family, fact in (facts.get("refused") or {}).items():
                if family not in self._refused and len(fact) == 2:
                    self._refused[family] = (str(fact[0]), str(fact[1]))

    # -- showing -----------------------------------------------------------------------------

    def table(self) -> list[dict[str, Any]]:
        """Every route with whether it is available and why (for people and reports)."""
        return [
            {"route": route, "available": self.can(route), "why": self.why_not(route)}
            for route in ROUTES
        ]

    def __repr__(self) -> str:
        missing = [route for route in ROUTES if not self.can(route)]
        with self._lock:
            refused = sorted(name for name, _ in self._refused.values())
        return (
            f"<Capabilities {self.server} flavor={self.flavor} ({self.flavor_source}) "
            f"missing={missing} refused={refused}>"
        )
