// mjwidgets Studio bar: the prompt box, the Imagine button and the backend badge.
// Enter submits, Shift+Enter adds a new line; the prompt leaves as a message.

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function render({ model, el: host, signal }) {
  const root = el("div", "mjw-studio-bar");
  const top = el("div", "mjw-studio-top");
  const title = el("span", "mjw-studio-title", "mjwidgets Studio");
  const badge = el("span", "mjw-badge");
  top.append(title, badge);

  const form = el("div", "mjw-studio-form");
  const prompt = el("textarea", "mjw-prompt");
  prompt.rows = 2;
  prompt.placeholder = "Describe an image, e.g. a red fox in snow --ar 3:2   (Enter to imagine)";
  prompt.setAttribute("aria-label", "Prompt");
  const imagine = el("button", "mjw-imagine", "Imagine");
  imagine.title = "Submit the prompt (Enter); Shift+Enter adds a new line";
  form.append(prompt, imagine);

  const status = el("div", "mjw-studio-status");
  const sweep = el("div", "mjw-sweep-progress");
  const error = el("div", "mjw-studio-error");
  root.append(top, form, status, sweep, error);
  host.appendChild(root);

  function submit() {
    const text = prompt.value;
    model.send({ type: "imagine", prompt: text });
  }

  imagine.addEventListener("click", submit, { signal });
  prompt.addEventListener("keydown", (event) => {
    event.stopPropagation(); // JupyterLab would run the cell on Shift+Enter
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  }, { signal });

  function update() {
    const sim = model.get("simulator");
    badge.textContent = sim ? "simulator" : model.get("backend_label") || "service";
    badge.className = sim ? "mjw-badge" : "mjw-badge mjw-badge-real";
    badge.title = sim
      ? "Running on the embedded simulator: set MJ_BASE_URL and MJ_API_KEY (and MJ_AUTH) "
        + "before creating the Studio to use a real Midjourney-proxy service"
      : `Connected to ${model.get("backend_label")}`;
    status.textContent = model.get("status_text") || "";
    sweep.textContent = model.get("sweep_text") || "";
    sweep.hidden = !model.get("sweep_text");
    error.textContent = model.get("error") || "";
    error.hidden = !model.get("error");
    imagine.disabled = Boolean(model.get("busy"));
  }

  model.on("msg:custom", (msg) => {
    if (msg.type === "set_prompt") {
      prompt.value = msg.prompt || "";
      prompt.focus();
    } else if (msg.type === "clear_prompt") {
      prompt.value = "";
    }
  });
  for (const name of ["simulator", "backend_label", "status_text", "sweep_text", "error", "busy"]) {
    model.on(`change:${name}`, update);
  }
  update();
}

export default { render };
