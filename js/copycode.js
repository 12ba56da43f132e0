// mjwidgets "Copy as code": a task's recipe (a runnable cell, made by the kernel) onto the
// clipboard; where the clipboard is out of reach (plain http, a denied permission) the code is
// shown selected in a box to copy by hand. Joined after common.js (el, flashNote).

function copyCodeButton(className) {
  const button = el("button", className || "mjw-copy-code", "Copy as code");
  button.type = "button";
  button.title = "Copy a notebook cell that makes this image again (its whole lineage)";
  return button;
}

// Put `code` on the clipboard; returns true when it is there. No execCommand fallback here:
// a recipe arrives after a round trip to the kernel, when a page may no longer copy silently.
async function clipboardWrite(code) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(code);
      return true;
    }
  } catch (_) { /* denied or unavailable: the box below */ }
  return false;
}

// The kernel's answer {code | error} for a "Copy as code" click: to the clipboard (a short
// note beside `anchor`), else into a selectable box placed after `anchor`.
async function showRecipe(anchor, msg, signal) {
  const old = anchor.parentElement && anchor.parentElement.querySelector(".mjw-code-box");
  if (old) old.remove();
  if (msg.error || !msg.code) {
    flashNote(anchor, `No recipe: ${msg.error || "nothing to copy"}`, 6000);
    return;
  }
  if (await clipboardWrite(msg.code)) {
    flashNote(anchor, "Recipe copied: paste it into a cell", 2500);
    return;
  }
  const box = el("div", "mjw-code-box");
  box.dataset.taskId = msg.task_id || "";
  const note = el("div", "mjw-code-note",
    "The clipboard is not available here: the recipe is selected below, press Ctrl+C (⌘C).");
  const area = el("textarea", "mjw-code-text");
  area.readOnly = true;
  area.value = msg.code;
  area.rows = Math.min(14, msg.code.split("\n").length + 1);
  area.spellcheck = false;
  area.addEventListener("keydown", (event) => event.stopPropagation(), { signal });
  const close = el("button", "mjw-code-close", "Close");
  close.type = "button";
  close.addEventListener("click", () => box.remove(), { signal });
  box.append(note, area, close);
  anchor.insertAdjacentElement("afterend", box);
  area.focus({ preventScroll: true });
  area.select();
}
