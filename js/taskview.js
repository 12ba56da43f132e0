// mjwidgets TaskView: one card per Midjourney task.
// State arrives in traits (status, progress, image bytes, buttons...); clicks leave as messages.
// Every server-provided string is inserted with textContent, never as HTML.

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function buttonText(b) {
  if (b.label && b.emoji && !/^[a-z0-9_]+$/i.test(b.emoji)) return `${b.emoji} ${b.label}`;
  return b.label || b.emoji || "?";
}

function formatSeconds(s) {
  if (s === null || s === undefined) return "";
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function render({ model, el: host, signal }) {
  const root = el("div", "mjw-task");
  host.appendChild(root);

  const header = el("div", "mjw-header");
  const status = el("span", "mjw-status");
  const action = el("span", "mjw-action");
  const lineage = el("a", "mjw-lineage");
  lineage.href = "#";
  const idLabel = el("span", "mjw-id");
  header.append(status, action, lineage, idLabel);

  const progress = el("div", "mjw-progress");
  progress.setAttribute("role", "progressbar");
  const bar = el("div", "mjw-progress-bar");
  const pct = el("span", "mjw-progress-text");
  progress.append(bar, pct);

  const figure = el("div", "mjw-figure");
  const img = el("img", "mjw-image");
  img.alt = "";
  const placeholder = el("div", "mjw-placeholder", "waiting for the first preview…");
  figure.append(img, placeholder);

  const prompt = el("div", "mjw-prompt-text");
  const timings = el("div", "mjw-timings");
  const failure = el("div", "mjw-fail");
  const retrying = el("div", "mjw-retrying");
  const error = el("div", "mjw-error");
  const rows = el("div", "mjw-rows");
  const children = el("div", "mjw-children");
  const tools = el("div", "mjw-tools");
  const full = el("button", "mjw-full", "Full size ↗");
  full.title = "Open the full-resolution image in a new tab";
  const download = el("button", "mjw-download", "Download");
  download.title = "Download the full-resolution image";
  tools.append(full, download);

  const modal = el("div", "mjw-modal");
  const modalTitle = el("div", "mjw-modal-title");
  const modalPrompt = el("textarea", "mjw-modal-prompt");
  modalPrompt.rows = 3;
  const modalHint = el("div", "mjw-modal-hint");
  const modalSend = el("button", "mjw-modal-send", "Send");
  modalSend.title = "Submit this prompt (Ctrl+Enter)";
  const modalCancel = el("button", "mjw-modal-cancel", "Cancel");
  modalCancel.title = "Close without submitting";
  const modalButtons = el("div", "mjw-modal-buttons");
  modalButtons.append(modalSend, modalCancel);
  modal.append(modalTitle, modalPrompt, modalHint, modalButtons);

  root.append(header, progress, figure, prompt, timings, failure, retrying, error, rows,
    modal, children, tools);

  let objectUrl = null;
  signal.addEventListener("abort", () => {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
  });

  function showImage() {
    const data = model.get("image");
    const fmt = model.get("image_format") || "webp";
    if (objectUrl) {
      URL.revokeObjectURL(objectUrl);
      objectUrl = null;
    }
    const bytes = data && (data.byteLength || data.length) ? data : null;
    if (!bytes) {
      img.removeAttribute("src");
      img.hidden = true;
      placeholder.hidden = model.get("status") === "FAILURE" || model.get("status") === "SUCCESS";
      return;
    }
    objectUrl = URL.createObjectURL(new Blob([bytes], { type: `image/${fmt}` }));
    img.onload = () => {
      if (!model.get("is_preview")) {
        root.dataset.painted = model.get("task_id");
        try {
          performance.mark(`mjw-painted-${model.get("task_id")}`);
        } catch (_) { /* marks are best effort */ }
      }
    };
    img.src = objectUrl;
    img.hidden = false;
    placeholder.hidden = true;
    img.classList.toggle("mjw-preview", Boolean(model.get("is_preview")));
    const size = model.get("image_size") || [];
    img.title = size.length === 2 ? `${size[0]}×${size[1]} px` : "";
  }

  function showHeader() {
    const s = model.get("status") || "";
    root.classList.toggle("mjw-compact", Boolean(model.get("compact")));
    root.dataset.taskId = model.get("task_id") || "";
    root.dataset.status = s;
    // status and lineage in words for people (the kernel words them: mjwidgets/wording.py)
    const words = model.get("status_text") || s.replace("_", " ").toLowerCase() || "…";
    status.textContent = words.split(": ")[0];
    status.title = words;
    status.className = `mjw-status mjw-status-${s.toLowerCase()}`;
    status.classList.toggle("mjw-stuck", Boolean(model.get("stuck")));
    action.textContent = (model.get("action") || "").toLowerCase();
    idLabel.textContent = model.get("task_id") ? `#${model.get("task_id")}` : "";
    const parent = model.get("parent_id");
    lineage.textContent = model.get("lineage") || "";
    lineage.hidden = !model.get("lineage");
    lineage.title = parent ? `Show task ${parent}` : "";
    const p = Math.max(0, Math.min(100, model.get("progress") || 0));
    progress.dataset.progress = String(p);
    progress.setAttribute("aria-valuenow", String(p));
    bar.style.width = `${p}%`;
    pct.textContent = `${p}%`;
    progress.hidden = s === "SUCCESS" || s === "FAILURE" || s === "CANCEL" || s === "MODAL";
    prompt.textContent = model.get("prompt") || "";
    const t = model.get("timings") || {};
    const parts = [];
    if (t.queued !== undefined && t.queued !== null) parts.push(`queued ${formatSeconds(t.queued)}`);
    if (t.running !== undefined && t.running !== null) parts.push(`ran ${formatSeconds(t.running)}`);
    if (t.total !== undefined && t.total !== null) parts.push(`total ${formatSeconds(t.total)}`);
    timings.textContent = parts.join(" · ");
    const reason = model.get("fail_reason");
    failure.textContent = reason ? `Failed: ${reason}` : "";
    failure.hidden = !reason;
    const retry = model.get("retrying");
    retrying.textContent = retry || "";
    retrying.hidden = !retry;
    const err = model.get("error");
    error.textContent = err || "";
    error.hidden = !err;
    const shown = model.get("image");
    tools.hidden = s !== "SUCCESS" || !shown || !(shown.byteLength || shown.length);
    // an ended job without an image (failed, cancelled) waits for no preview
    if (!shown || !(shown.byteLength || shown.length)) {
      placeholder.hidden = ["SUCCESS", "FAILURE", "CANCEL"].includes(s);
    }
  }

  // ---- buttons and the card's controls --------------------------------------------------
  // Trait contract: mjwidgets/widgets/cardbuttons.py. Rows follow each entry's `group`; a
  // button the server cannot press is aria-disabled (still focusable) and says why on hover,
  // focus and click; a used upscale opens its result (no new job).
  function showButtons() {
    rows.replaceChildren();
    const buttons = model.get("buttons") || [];
    const controls = model.get("controls") || [];
    const pending = new Set(model.get("pending_buttons") || []);
    const used = new Set(model.get("used_buttons") || []);
    const reasonLine = el("div", "mjw-reason");
    reasonLine.setAttribute("role", "status");
    reasonLine.hidden = true;
    const explain = (text) => {
      reasonLine.textContent = text || "";
      reasonLine.hidden = !text;
    };

    function makeButton(text, title, enabled, reason) {
      const button = el("button", "mjw-button", text);
      button.title = enabled ? title : `${title}\nUnavailable: ${reason}`;
      if (!enabled) {
        button.setAttribute("aria-disabled", "true");
        button.classList.add("mjw-unavailable");
        button.dataset.reason = reason;
        for (const type of ["mouseenter", "focus"]) {
          button.addEventListener(type, () => explain(reason), { signal });
        }
        for (const type of ["mouseleave", "blur"]) {
          button.addEventListener(type, () => explain(""), { signal });
        }
      }
      return button;
    }

    let row = null;
    let group = null;
    for (const b of buttons) {
      if (row === null || b.group !== group) {
        row = el("div", "mjw-row");
        row.dataset.group = b.group || "";
        rows.appendChild(row);
        group = b.group;
      }
      const enabled = b.enabled !== false;
      const reason = enabled ? "" : b.reason || "not available at this server";
      const existing = b.existing_task_id || "";
      const text = existing ? `${buttonText(b)} ↗` : buttonText(b);
      const button = makeButton(text, b.title || buttonText(b), enabled, reason);
      button.dataset.customId = b.custom_id;
      button.dataset.kind = b.kind;
      if (existing) {
        button.classList.add("mjw-used", "mjw-open-result");
        button.dataset.existingTaskId = existing;
        button.setAttribute("aria-label", `${buttonText(b)}: open its result`);
      } else if (used.has(b.custom_id)) {
        button.classList.add("mjw-used");
      }
      if (pending.has(b.custom_id)) {
        button.disabled = true;
        button.classList.add("mjw-pending");
      }
      button.addEventListener("click", () => {
        if (!enabled) {
          explain(reason);
          return;
        }
        const shown = existing
          && document.querySelector(`.mjw-task[data-task-id="${CSS.escape(existing)}"]`);
        if (shown) {
          scrollToTask(existing); // its result is on the page: no new job, no round trip
          return;
        }
        button.disabled = true;
        button.classList.add("mjw-pending");
        model.send({ type: "click", custom_id: b.custom_id });
      }, { signal });
      row.appendChild(button);
    }

    const stuck = model.get("stuck") || "";
    if (controls.length || stuck) {
      const row = el("div", "mjw-row mjw-controls");
      if (stuck) row.appendChild(el("span", "mjw-stuck-text", stuck));
      for (const c of controls) {
        const enabled = c.enabled !== false;
        const reason = c.reason || "";
        const button = makeButton(c.label, c.title || c.label, enabled || !reason, reason);
        button.classList.add("mjw-control");
        button.dataset.control = c.id;
        if (!enabled && !reason) {
          button.disabled = true; // busy: this control's request is on its way
          button.classList.add("mjw-pending");
        }
        button.addEventListener("click", () => {
          if (!enabled) {
            if (reason) explain(reason);
            return;
          }
          button.disabled = true;
          button.classList.add("mjw-pending");
          model.send({ type: "control", id: c.id });
        }, { signal });
        row.appendChild(button);
      }
      rows.appendChild(row);
    }
    rows.appendChild(reasonLine);
    rows.hidden = buttons.length === 0 && controls.length === 0 && !stuck;
  }
  // ---- end of buttons and controls ---------------------------------------------------------

  function showChildren() {
    children.replaceChildren();
    for (const child of model.get("children") || []) {
      const link = el("a", "mjw-child-link", `→ ${child.label}`);
      link.href = "#";
      link.dataset.taskId = child.task_id;
      link.title = `Show task ${child.task_id}`;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        scrollToTask(child.task_id);
      }, { signal });
      children.appendChild(link);
    }
    children.hidden = children.childElementCount === 0;
  }

  function showModal() {
    const m = model.get("modal") || {};
    if (!m.kind) {
      modal.hidden = true;
      return;
    }
    const wasHidden = modal.hidden;
    modal.hidden = false;
    modal.dataset.kind = m.kind;
    modalTitle.textContent = m.title || "";
    modalHint.textContent = m.hint || "";
    modalHint.classList.toggle("mjw-modal-invalid", Boolean(m.invalid));
    if (wasHidden || modalPrompt.dataset.taskId !== m.task_id) {
      modalPrompt.value = m.prompt || "";
      modalPrompt.dataset.taskId = m.task_id || "";
      modalPrompt.focus();
    }
    modalSend.disabled = Boolean(m.sending);
  }

  function scrollToTask(taskId) {
    const target = document.querySelector(`.mjw-task[data-task-id="${CSS.escape(taskId)}"]`);
    if (target) {
      target.scrollIntoView({ behavior: "smooth", block: "center" });
      target.classList.add("mjw-flash");
      setTimeout(() => target.classList.remove("mjw-flash"), 1200);
    }
  }

  lineage.addEventListener("click", (event) => {
    event.preventDefault();
    if (model.get("parent_id")) scrollToTask(model.get("parent_id"));
  }, { signal });

  modalSend.addEventListener("click", () => {
    model.send({ type: "modal_send", prompt: modalPrompt.value });
  }, { signal });
  modalCancel.addEventListener("click", () => model.send({ type: "modal_cancel" }), { signal });
  modalPrompt.addEventListener("keydown", (event) => {
    event.stopPropagation(); // keep JupyterLab's shortcuts out of the text box
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      modalSend.click();
    }
  }, { signal });

  function requestFull(mode) {
    model.send({ type: "full_image", mode });
  }
  full.addEventListener("click", () => requestFull("open"), { signal });
  download.addEventListener("click", () => requestFull("download"), { signal });
  model.on("msg:custom", (msg, buffers) => {
    if (msg.type !== "full_image" || !buffers || !buffers.length) return;
    const url = URL.createObjectURL(new Blob([buffers[0]], { type: msg.mime }));
    if (msg.mode === "download") {
      const a = el("a");
      a.href = url;
      a.download = msg.filename || "image.png";
      a.click();
    } else {
      window.open(url, "_blank", "noopener");
    }
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  });

  model.on("change:image", showImage);
  model.on("change:is_preview", showImage);
  for (const name of ["status", "progress", "prompt", "timings", "fail_reason", "error",
    "lineage", "action", "task_id", "retrying", "compact", "status_text", "stuck"]) {
    model.on(`change:${name}`, showHeader);
  }
  model.on("change:buttons", showButtons);
  model.on("change:controls", showButtons);
  model.on("change:stuck", showButtons);
  model.on("change:pending_buttons", showButtons);
  model.on("change:used_buttons", showButtons);
  model.on("change:children", showChildren);
  model.on("change:modal", showModal);
  showHeader();
  showImage();
  showHeader();
  showButtons();
  showChildren();
  showModal();
}

export default { render };
