// mjwidgets mask editor bar: what to do, the tools, the prompt and Submit, above the canvas.
// Tools, sizes, the overlay's opacity and the prompt are traits; the buttons send messages.

const EDITOR_TOOLS = [
  ["rect", "▭ Rectangle", "Drag a rectangle over the part to repaint"],
  ["lasso", "◌ Lasso", "Draw around the part to repaint"],
  ["brush", "🖌 Brush", "Paint over the part to repaint ([ and ] change the size)"],
  ["eraser", "⌫ Eraser", "Take parts out of the selection"],
];

function render({ model, el: host, signal }) {
  const root = el("div", "mjw-editor-bar");
  const title = el("div", "mjw-editor-title");
  title.append(el("strong", null, model.get("title") || "Vary (Region)"),
    el("span", "mjw-editor-help",
      " — draw over the part to repaint; the rest stays as it is. "
      + "Then say what goes there and Submit."));

  const tools = el("div", "mjw-editor-tools");
  const toolGroup = el("div", "mjw-editor-toolgroup");
  toolGroup.setAttribute("role", "radiogroup");
  tools.appendChild(toolGroup);
  const toolButtons = EDITOR_TOOLS.map(([value, label, tip]) => {
    const button = el("button", "mjw-editor-tool", label);
    button.type = "button";
    button.dataset.tool = value;
    button.title = tip;
    button.addEventListener("click", () => {
      model.set("tool", value);
      model.save_changes();
    }, { signal });
    toolGroup.appendChild(button);
    return button;
  });
  const sizeLabel = el("label", "mjw-editor-size");
  const size = el("input");
  size.type = "range";
  size.min = "1";
  const sizeValue = el("span", "mjw-editor-value");
  sizeLabel.append(el("span", null, "Brush"), size, sizeValue);
  sizeLabel.title = "Brush and eraser size in image pixels ([ and ] on the canvas)";
  size.addEventListener("input", () => {
    sizeValue.textContent = `${size.value} px`;
  }, { signal });
  size.addEventListener("change", () => {
    model.set("brush_size", Number(size.value));
    model.save_changes();
  }, { signal });

  const actions = el("div", "mjw-editor-actions");
  const action = (label, type, tip) => {
    const button = el("button", `mjw-editor-action mjw-editor-${type}`, label);
    button.type = "button";
    button.title = tip;
    button.addEventListener("click", () => model.send({ type }), { signal });
    actions.appendChild(button);
    return button;
  };
  const undo = action("↶ Undo", "undo", "Undo the last shape (Ctrl+Z on the canvas)");
  const redo = action("↷ Redo", "redo", "Redo (Ctrl+Shift+Z on the canvas)");
  action("Clear", "clear", "Select nothing");
  action("Invert", "invert", "Swap what is repainted and what is kept");
  const opacityLabel = el("label", "mjw-editor-opacity");
  const opacity = el("input");
  opacity.type = "range";
  opacity.min = "0";
  opacity.max = "1";
  opacity.step = "0.05";
  opacityLabel.append(el("span", null, "Overlay"), opacity);
  opacityLabel.title = "How strongly the selection's hatch covers the image";
  opacity.addEventListener("input", () => {
    model.set("opacity", Number(opacity.value));
    model.save_changes();
  }, { signal });
  tools.append(sizeLabel, actions, opacityLabel);

  const promptRow = el("div", "mjw-mask-prompt");
  const prompt = el("textarea", "mjw-editor-prompt");
  prompt.rows = 2;
  prompt.placeholder = "What goes in the selected region (the prompt; leave it to keep the image's)";
  prompt.setAttribute("aria-label", "Prompt for the selected region");
  const submit = el("button", "mjw-mask-submit", "Submit");
  submit.type = "button";
  submit.title = "Repaint the selected region (Ctrl+Enter)";
  const cancel = el("button", "mjw-mask-cancel", "Cancel");
  cancel.type = "button";
  cancel.title = "Close the editor without submitting (Esc)";
  const buttons = el("div", "mjw-editor-submit");
  buttons.append(submit, cancel);
  promptRow.append(prompt, buttons);
  const message = el("div", "mjw-mask-error");
  message.setAttribute("role", "alert");
  const sending = el("div", "mjw-editor-sending");
  sending.setAttribute("role", "status");
  root.append(title, tools, promptRow, message, sending);
  host.appendChild(root);

  let promptTimer = null;
  prompt.addEventListener("input", () => {
    clearTimeout(promptTimer);
    promptTimer = setTimeout(() => {
      model.set("prompt", prompt.value);
      model.save_changes();
    }, 150);
  }, { signal });
  signal.addEventListener("abort", () => clearTimeout(promptTimer));
  const flushPrompt = () => {
    clearTimeout(promptTimer);
    if (model.get("prompt") !== prompt.value) {
      model.set("prompt", prompt.value);
      model.save_changes();
    }
  };
  submit.addEventListener("click", (event) => {
    if (repeatClick(event)) return; // a double click is one job
    flushPrompt();
    model.send({ type: "submit" });
  }, { signal });
  cancel.addEventListener("click", () => model.send({ type: "cancel" }), { signal });
  prompt.addEventListener("keydown", (event) => {
    event.stopPropagation(); // keep JupyterLab's shortcuts out of the text box
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit.click();
    } else if (event.key === "Escape") {
      event.preventDefault();
      cancel.click();
    }
  }, { signal });

  function update() {
    const tool = model.get("tool");
    toolButtons.forEach((b) => {
      const on = b.dataset.tool === tool;
      b.classList.toggle("mjw-on", on);
      b.setAttribute("aria-pressed", String(on));
    });
    size.max = String(model.get("brush_max") || 256);
    size.value = String(model.get("brush_size"));
    sizeValue.textContent = `${model.get("brush_size")} px`;
    sizeLabel.classList.toggle("mjw-dim", tool === "rect" || tool === "lasso");
    opacity.value = String(model.get("opacity"));
    undo.disabled = !model.get("can_undo");
    redo.disabled = !model.get("can_redo");
    if (document.activeElement !== prompt) prompt.value = model.get("prompt") || "";
    const err = model.get("error") || "";
    message.textContent = err;
    message.hidden = !err;
    const busy = model.get("state") === "sending";
    submit.disabled = busy;
    submit.textContent = busy ? "Sending…" : "Submit";
    sending.textContent = busy ? "Submitting the mask and prompt… the result appears as a new card." : "";
    sending.hidden = !busy;
    root.classList.toggle("mjw-busy", busy);
  }
  for (const name of ["tool", "brush_size", "brush_max", "opacity", "can_undo", "can_redo",
    "prompt", "error", "state"]) {
    model.on(`change:${name}`, update);
  }
  update();
  requestAnimationFrame(() => {
    const editor = root.closest(".mjw-mask-editor") || root;
    editor.scrollIntoView({ block: "nearest", behavior: "smooth" });
  });
}

export default { render };
