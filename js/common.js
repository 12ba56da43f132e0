// mjwidgets: helpers every front end shares. This file is joined in front of a widget's own
// module (widgets/plumbing.py: front_end), so it defines plain functions and exports nothing.
// Text always goes in with textContent: prompts and server strings are never parsed as HTML.

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// Replace `box`'s content with `build()` and keep keyboard focus where it was: on the new
// element of the same `keyOf(element)`, else on `box` itself. A focused element that is removed
// (or disabled) drops focus to the page, and JupyterLab answers the next mousedown by bouncing
// focus through the notebook and the cell, which restyles every card on screen: ~60 ms before
// the next click in a 300-card Studio, 0.2 ms with focus kept (benchmarks/README).
function rebuildKeepingFocus(box, keyOf, build) {
  const active = document.activeElement;
  if (!box.contains(active)) {
    build();
    return;
  }
  const key = active === box ? "" : keyOf(active);
  build();
  const again = key ? [...box.querySelectorAll("*")].find((node) => keyOf(node) === key) : null;
  if (!again) {
    box.tabIndex = -1;
    box.classList.add("mjw-focus-holder");
  }
  (again || box).focus({ preventScroll: true });
}

// A pressed button whose request is on its way: aria-disabled and marked, never `disabled` —
// a disabled button drops focus to the page (above). Its click handler ignores it meanwhile:
// one click, one job (the kernel's one-press guard stays the last word).
function markPending(button, pending = true) {
  if (pending) button.setAttribute("aria-disabled", "true");
  else button.removeAttribute("aria-disabled");
  button.classList.toggle("mjw-pending", pending);
}
const isPending = (button) => button.classList.contains("mjw-pending");

// The second click of a double click (the browser counts them: `event.detail` 2, 3, …) is the
// first click again, not a second job. A button that costs money ignores it however late the
// page hears it: on a loaded machine the first click's job can be submitted, and its button
// pressable again, before the second click arrives. (Enter and Space click with detail 0.)
const repeatClick = (event) => event.detail > 1;

// The widget's style sheets, one <style> per file for the whole page (widgets/plumbing.py:
// front_end(styles=…) calls this first). A sheet already there with the same text is left
// alone: anywidget's own _css path rewrites its <style> for every new widget, and every rewrite
// makes the browser restyle the whole page — a card added to a 200-card Studio paid for all 200.
function adoptStyles(sheets) {
  for (const [id, css] of sheets) {
    let style = document.getElementById(id);
    if (style && style.textContent === css) continue;
    if (!style) {
      style = document.createElement("style");
      style.id = id;
      document.head.appendChild(style);
    }
    style.textContent = css;
  }
}

// Copy text to the clipboard: the async API where the page may use it, else a hidden textarea
// and execCommand (plain http pages, older browsers). Resolves to true when it worked.
async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (_) { /* fall back below */ }
  const area = el("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.cssText = "position:fixed;left:-9999px;top:0;opacity:0";
  document.body.appendChild(area);
  area.select();
  let done = false;
  try {
    done = document.execCommand("copy");
  } catch (_) {
    done = false;
  }
  area.remove();
  return done;
}

// A short-lived note next to a control ("Copied", "❤️ saved"): one at a time per anchor.
function flashNote(anchor, text, ms = 1600) {
  const note = el("span", "mjw-note", text);
  note.setAttribute("role", "status");
  const old = anchor.querySelector(":scope > .mjw-note");
  if (old) old.remove();
  anchor.appendChild(note);
  setTimeout(() => note.remove(), ms);
}

// Is this view still connected to a kernel? ipywidgets flips a model's `comm_live` when its
// kernel restarts or shuts down (and says so with a "comm_live_update" event, whose `this` is
// our view), and marks the containers around the view "jupyter-widgets-disconnected" — from the
// start when the notebook was reopened from its saved widget state.
// onState("live" | "snapshot" | "lost") is called now and on every change.
function watchKernel(host, model, signal, onState) {
  const DEAD = "jupyter-widgets-disconnected";
  let state = "live";
  let settled = false; // known whether it started dead
  onState(state);
  const set = (next) => {
    if (next !== state) {
      state = next;
      onState(state);
    }
  };
  model.on("comm_live_update", function onCommLive() {
    const live = this && this.model ? Boolean(this.model.comm_live) : true;
    set(live ? "live" : "lost");
  });
  let observer = null;
  signal.addEventListener("abort", () => observer && observer.disconnect());
  let frames = 0;
  const attach = () => {
    if (signal.aborted) return;
    const container = host.isConnected && host.parentElement
      ? host.parentElement.closest(".jupyter-widgets") : null;
    if (!container) {
      if (frames++ < 600) requestAnimationFrame(attach);
      return;
    }
    if (!settled) {
      settled = true;
      if (container.classList.contains(DEAD)) set("snapshot");
    }
    observer = new MutationObserver(() => {
      if (container.classList.contains(DEAD)) {
        if (state === "live") set("lost");
      } else if (state === "lost") {
        set("live");
      }
    });
    observer.observe(container, { attributes: true, attributeFilter: ["class"] });
  };
  attach();
  return () => state;
}

// What a dead view says, and how to bring it back.
function offlineText(state, what) {
  if (state === "snapshot") {
    return `Saved snapshot of this ${what}: nothing here reaches a kernel. `
      + "Run the cell again to bring it back to life.";
  }
  if (state === "lost") {
    return `The kernel of this ${what} restarted or stopped: it no longer answers. `
      + "Run the cell again to bring it back to life.";
  }
  return "";
}

// Waits for the kernel's answer to something sent: when none comes within `ms`, onSilent()
// says so (the kernel handles widget messages only between cells; a restarted kernel never
// answers); the next answer calls onAnswer().
function answerWatch(signal, onSilent, onAnswer, ms = 6000) {
  let timer = null;
  let silent = false;
  signal.addEventListener("abort", () => clearTimeout(timer));
  return {
    expect() {
      if (timer === null) {
        timer = setTimeout(() => {
          timer = null;
          silent = true;
          onSilent();
        }, ms);
      }
    },
    answered() {
      clearTimeout(timer);
      timer = null;
      if (silent) {
        silent = false;
        onAnswer();
      }
    },
  };
}

const SILENT_TEXT = "No answer from the kernel yet: it may be busy running a cell "
  + "(the answer comes when it is done), or it restarted (then run this cell again).";

// While this view is alive, hide the static snapshot saved beside it (widgets/snapshot.py):
// the snapshot is for readers without a kernel. Keyed by the widget's uid, so the snapshot of
// another widget (one whose kernel is gone) stays visible.
function hideSnapshotOf(uid, signal) {
  if (!/^[0-9a-f]{8,64}$/.test(uid || "")) return; // ours are hex; anything else is not ours
  const id = `mjw-live-${uid}`;
  if (document.getElementById(id)) return;
  const style = el("style");
  style.id = id;
  // Child combinators only: a :has() that looks at every descendant makes each style change
  // anywhere in a big Studio re-check its whole subtree (~5 ms a frame with 300 cards).
  style.textContent = `[data-mjw-of="${uid}"] { display: none !important; }\n`
    + `.jp-OutputArea-child:has(> .jp-OutputArea-output > [data-mjw-of="${uid}"]) `
    + "{ display: none !important; }";
  document.head.appendChild(style);
  signal.addEventListener("abort", () => {
    // another view of the same widget may still be on the page
    setTimeout(() => {
      if (!document.querySelector(`[data-mjw-live="${uid}"]`)) style.remove();
    }, 0);
  });
}
