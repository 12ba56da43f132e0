// mjwidgets TaskView: one card per Midjourney task.
// State arrives in traits (status, progress, image bytes, buttons...); clicks leave as messages.
// Every server-provided string is inserted with textContent, never as HTML.
// Joined after common.js (el, copyText, watchKernel…), lightbox.js, copycode.js and
// gallerylibrary.js (widgets/plumbing.py).

function buttonText(b) {
  if (b.label && b.emoji && !/^[a-z0-9_]+$/i.test(b.emoji)) return `${b.emoji} ${b.label}`;
  return b.label || b.emoji || "?";
}

// A card's picture as a data: URL, not a Blob URL: each Blob and its URL cost the page's main
// thread a round trip to the browser process (~3 ms a card on a loaded machine: a tenth of the
// page's time for 100 cards added to a Studio), a data: URL is read in the page itself.
function pictureUrl(data, fmt) {
  const bytes = data instanceof Uint8Array ? data
    : new Uint8Array(data.buffer || data, data.byteOffset || 0, data.byteLength);
  let text;
  if (typeof bytes.toBase64 === "function") {
    text = bytes.toBase64();
  } else {
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    text = btoa(binary);
  }
  return `data:image/${fmt};base64,${text}`;
}

function formatSeconds(s) {
  if (s === null || s === undefined) return "";
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

const PLACEHOLDER_TEXT = {
  "": "submitting…",
  NOT_START: "queued: waiting for a free slot…",
  SUBMITTED: "queued: waiting for a free slot…",
  IN_PROGRESS: "started: waiting for the first preview…",
  MODAL: "waiting for your input below",
  SUCCESS: "loading the image…",
  CANCEL: "cancelled: no image",
  FAILURE: "failed: no image",
};
const DONE = new Set(["SUCCESS", "FAILURE", "CANCEL", "MODAL"]);

function render({ model, el: host, signal }) {
  const root = el("div", "mjw-task");
  host.appendChild(root);
  // a card shown on its own has a saved snapshot beside it (a uid): hide it while alive
  const liveUid = () => {
    root.dataset.mjwLive = model.get("uid") || "";
    hideSnapshotOf(model.get("uid"), signal);
  };
  liveUid();
  model.on("change:uid", liveUid);

  const offline = el("div", "mjw-offline");
  offline.setAttribute("role", "alert");
  const header = el("div", "mjw-header");
  const status = el("span", "mjw-status");
  const action = el("span", "mjw-action");
  const lineage = el("a", "mjw-lineage");
  lineage.href = "#";
  const idLabel = el("span", "mjw-id");
  header.append(status, action, lineage);

  const progress = el("div", "mjw-progress");
  progress.setAttribute("role", "progressbar");
  const bar = el("div", "mjw-progress-bar");
  const pct = el("span", "mjw-progress-text");
  progress.append(bar, pct);

  const figure = el("div", "mjw-figure");
  const img = el("img", "mjw-image");
  img.alt = "";
  const placeholder = el("div", "mjw-placeholder");
  const tiles = el("div", "mjw-tiles");
  figure.append(img, placeholder, tiles);

  const promptRow = el("div", "mjw-prompt-row");
  const prompt = el("div", "mjw-prompt-text");
  const copyPrompt = el("button", "mjw-copy-prompt", "Copy");
  copyPrompt.title = "Copy the prompt";
  copyPrompt.type = "button";
  promptRow.append(prompt, copyPrompt);
  const proposals = el("ol", "mjw-proposals");
  const meta = el("div", "mjw-meta");
  const timings = el("span", "mjw-timings");
  meta.append(timings, idLabel);
  const failure = el("div", "mjw-fail");
  const retrying = el("div", "mjw-retrying");
  const error = el("div", "mjw-error");
  const notice = el("div", "mjw-notice");
  notice.setAttribute("role", "status");
  const silent = el("div", "mjw-silent");
  silent.hidden = true;
  const rows = el("div", "mjw-rows");
  const children = el("div", "mjw-children");
  const tools = el("div", "mjw-tools");
  const full = el("button", "mjw-full", "View ⤢");
  full.title = "View the images at full size (click an image too)";
  const download = el("button", "mjw-download", "Download");
  download.title = "Download the full-resolution image as the server made it";
  const copyCode = copyCodeButton();
  const marks = el("span", "mjw-card-marks"); // ♥ and stars (gallerylibrary.js)
  tools.append(full, download, copyCode, marks, children);

  const modal = el("div", "mjw-modal");
  const modalTitle = el("div", "mjw-modal-title");
  const modalPrompt = el("textarea", "mjw-modal-prompt");
  modalPrompt.rows = 3;
  const modalHint = el("div", "mjw-modal-hint");
  const modalSend = el("button", "mjw-modal-send", "Send");
  modalSend.title = "Submit this prompt (Ctrl+Enter)";
  const modalCancel = el("button", "mjw-modal-cancel", "Cancel");
  modalCancel.title = "Close without submitting (Esc)";
  const modalButtons = el("div", "mjw-modal-buttons");
  modalButtons.append(modalSend, modalCancel);
  modal.append(modalTitle, modalPrompt, modalHint, modalButtons);

  root.append(offline, header, progress, figure, promptRow, proposals, meta, failure,
    retrying, error, silent, rows, modal, tools, notice);

  const cropUrls = [];
  signal.addEventListener("abort", () => {
    cropUrls.forEach((u) => URL.revokeObjectURL(u));
    const overlay = document.querySelector("body > .mjw-lightbox");
    if (overlay && overlay.owner === root) lightboxClose();
  });

  // ---- the kernel: answers, silence, a restart ---------------------------------------------
  let kernelState = "live";
  const watch = answerWatch(signal, () => {
    silent.textContent = SILENT_TEXT;
    silent.hidden = false;
  }, () => { silent.hidden = true; });
  function send(content, buffers) {
    if (kernelState !== "live") {
      showOffline();
      return false;
    }
    watch.expect();
    model.send(content, undefined, buffers);
    return true;
  }
  function showOffline() {
    offline.textContent = offlineText(kernelState, "card");
    offline.hidden = kernelState === "live";
    root.classList.toggle("mjw-dead", kernelState !== "live");
  }
  watchKernel(host, model, signal, (state) => {
    kernelState = state;
    showOffline();
  });
  // A click on one of the API's buttons expects the kernel to answer (it marks it pending).
  rows.addEventListener("click", (event) => {
    if (event.target.closest && event.target.closest("button.mjw-button")) {
      if (kernelState !== "live") showOffline();
      else watch.expect();
    }
  }, { capture: true, signal });

  // ---- the image ---------------------------------------------------------------------------
  function hasImage() {
    const data = model.get("image");
    return Boolean(data && (data.byteLength || data.length));
  }

  function showAspect() {
    const [w, h] = model.get("aspect") || [1, 1];
    if (w > 0 && h > 0) figure.style.setProperty("--mjw-aspect", `${w} / ${h}`);
    figure.classList.toggle("mjw-portrait", h > w * 1.05);
  }

  function showFigure() {
    const s = model.get("status") || "";
    const shown = hasImage();
    placeholder.hidden = shown;
    placeholder.textContent = PLACEHOLDER_TEXT[s] || "waiting…";
    placeholder.dataset.status = s;
    // nothing to show and nothing coming: no empty frame (a failure, a shorten's text answer)
    const kind = (model.get("action") || "").toUpperCase();
    figure.hidden = !shown && (s === "FAILURE" || s === "CANCEL"
      || (kind === "SHORTEN") || (s === "SUCCESS" && (model.get("prompts") || []).length > 0));
    root.dataset.hasImage = String(shown && !figure.hidden);
    tools.hidden = s !== "SUCCESS" || !shown;
    showTiles();
  }

  function showImage() {
    const data = model.get("image");
    const fmt = model.get("image_format") || "webp";
    if (!hasImage()) {
      img.removeAttribute("src");
      img.hidden = true;
      showFigure();
      return;
    }
    img.onload = () => {
      if (!model.get("is_preview")) {
        root.dataset.painted = model.get("task_id");
        try {
          performance.mark(`mjw-painted-${model.get("task_id")}`);
        } catch (_) { /* marks are best effort */ }
      }
    };
    img.src = pictureUrl(data, fmt);
    img.hidden = false;
    img.classList.toggle("mjw-preview", Boolean(model.get("is_preview")));
    const size = model.get("image_size") || [];
    img.title = size.length === 2 ? `${size[0]}×${size[1]} px` : "";
    showFigure();
  }

  function candidateCount() {
    return model.get("grid") ? 4 : 1;
  }

  let tilesKey = "";
  function showTiles() {
    const ready = hasImage() && !model.get("is_preview") && model.get("status") === "SUCCESS";
    const count = candidateCount();
    const key = ready ? String(count) : "";
    if (key === tilesKey) return;
    tilesKey = key;
    tiles.replaceChildren();
    tiles.hidden = !ready;
    if (!ready) return;
    tiles.classList.toggle("mjw-tiles-grid", count > 1);
    for (let i = 1; i <= count; i++) {
      const hit = el("button", "mjw-tile-hit");
      hit.type = "button";
      hit.dataset.index = String(i);
      hit.title = count > 1 ? `View image ${i} at full size` : "View at full size";
      hit.setAttribute("aria-label", hit.title);
      if (count > 1) hit.appendChild(el("span", "mjw-tile-number", String(i)));
      hit.addEventListener("click", () => openLightbox(i), { signal });
      tiles.appendChild(hit);
    }
  }

  // ---- the lightbox ------------------------------------------------------------------------
  async function openLightbox(index) {
    const count = candidateCount();
    if (index === "last") index = count;
    index = Math.max(1, Math.min(count, Number(index) || 1));
    const size = model.get("image_size") || [];
    const tileSize = size.length === 2
      ? (count > 1 ? `${Math.floor(size[0] / 2)}×${Math.floor(size[1] / 2)} px`
        : `${size[0]}×${size[1]} px`) : "";
    const text = model.get("prompt") || "";
    const actions = [
      { label: "⬇ Download", title: count > 1 ? `Download image ${index} (full size)`
        : "Download the full-size image", className: "mjw-lb-download",
        run: () => { send({ type: "tile", index, mode: "download" }); } },
      { label: "Copy prompt", title: "Copy the prompt", className: "mjw-lb-copy-prompt",
        run: async (button) => flashNote(button.parentElement,
          (await copyText(text)) ? "Prompt copied" : "Copy failed") },
      { label: "Seed", title: "Ask the server for this job's seed (and copy it)",
        className: "mjw-lb-seed-button", run: () => { send({ type: "seed" }); } },
    ];
    for (const b of model.get("tile_buttons") || []) {
      if (b.index !== index) continue;
      const honest = (model.get("buttons") || []).find((x) => x.custom_id === b.custom_id) || {};
      const upscale = b.kind === "upsample";
      actions.push({
        label: upscale ? `Upscale (${b.label})` : `Vary (${b.label})`,
        title: honest.reason || honest.title || b.label,
        className: upscale ? "mjw-lb-upscale" : "mjw-lb-vary",
        disabled: honest.enabled === false,
        run: () => {
          if (send({ type: "click", custom_id: b.custom_id })) lightboxClose();
        },
      });
    }
    const spec = { owner: root, index, count, prompt: text, sizeText: tileSize, actions,
      placeholder: null };
    lightboxShow(spec);
    const crop = await cropPlaceholder(img, index, count);
    if (crop && crop !== img.src) cropUrls.push(crop);
    const overlay = document.querySelector("body > .mjw-lightbox");
    if (crop && overlay && overlay.owner === root && overlay.dataset.state === "loading"
      && overlay.dataset.index === String(index)) {
      overlay.parts.img.src = crop;
      overlay.parts.img.classList.add("mjw-lb-placeholder");
    }
    send({ type: "tile", index, mode: "view" });
  }
  root.addEventListener(LIGHTBOX_EVENT, (event) => {
    if (root.dataset.clips) return; // a video card's clips open in its own player (videocard.js)
    openLightbox(event.detail ? event.detail.index : 1);
  }, { signal });
  full.addEventListener("click", () => openLightbox(1), { signal });

  function onTile(msg, buffers) {
    if (msg.error) {
      if (msg.mode === "download") flashNote(tools, `Download failed: ${msg.error}`, 4000);
      lightboxMessage(root, `The full-size image is not available: ${msg.error}`);
      return;
    }
    const blob = new Blob([buffers[0]], { type: msg.mime });
    if (msg.mode === "download") {
      const url = URL.createObjectURL(blob);
      const a = el("a");
      a.href = url;
      a.download = msg.filename || "image.png";
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      lightboxMessage(root, `Downloaded ${msg.filename || "the image"}`);
      return;
    }
    lightboxSetImage(root, msg.index, blob, msg.width, msg.height, msg.source);
  }

  // ---- text: header, prompt, timings, messages ---------------------------------------------
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
    const taskId = model.get("task_id") || "";
    idLabel.textContent = taskId.length > 8 ? `#…${taskId.slice(-6)}` : taskId && `#${taskId}`;
    idLabel.title = taskId ? `Task ${taskId}` : "";
    const parent = model.get("parent_id") || "";
    const made = model.get("lineage") || ""; // in words: 'U2 of “a red fox…”'
    lineage.dataset.parentId = parent;
    lineage.textContent = made;
    lineage.hidden = !made;
    lineage.title = parent ? `Show task ${parent}` : "";
    const p = Math.max(0, Math.min(100, model.get("progress") || 0));
    progress.dataset.progress = String(p);
    progress.setAttribute("aria-valuenow", String(p));
    bar.style.width = `${p}%`;
    pct.textContent = `${p}%`;
    progress.hidden = DONE.has(s);
    const text = model.get("prompt") || "";
    prompt.textContent = text;
    promptRow.hidden = !text;
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
    showFigure();
  }

  let noticeTimer = null;
  function showNotice() {
    const text = model.get("notice") || "";
    notice.textContent = text;
    notice.hidden = !text;
    clearTimeout(noticeTimer);
    if (text) noticeTimer = setTimeout(() => { notice.hidden = true; }, 4000);
  }
  signal.addEventListener("abort", () => clearTimeout(noticeTimer));

  function showProposals() {
    proposals.replaceChildren();
    const items = model.get("prompts") || [];
    proposals.hidden = items.length === 0;
    for (const item of items) {
      const li = el("li", "mjw-proposal");
      li.dataset.index = String(item.index);
      const text = el("div", "mjw-proposal-text", item.text);
      const actions = el("div", "mjw-proposal-actions");
      const go = el("button", "mjw-proposal-imagine", "Imagine this");
      go.type = "button";
      go.title = item.pick && item.pick_enabled
        ? `Imagine prompt ${item.index} (through the server's ${item.index}️⃣ button)`
        : `Imagine prompt ${item.index} as it is written`;
      go.addEventListener("click", () => {
        if (send({ type: "imagine_prompt", index: item.index })) {
          go.disabled = true;
          go.classList.add("mjw-pending");
          flashNote(actions, "Submitted");
        }
      }, { signal });
      const copy = el("button", "mjw-proposal-copy", "Copy");
      copy.type = "button";
      copy.title = `Copy prompt ${item.index}`;
      copy.addEventListener("click", async () => {
        flashNote(actions, (await copyText(item.text)) ? "Copied" : "Copy failed");
      }, { signal });
      actions.append(go, copy);
      if (model.get("can_use_prompt")) {
        const edit = el("button", "mjw-proposal-edit", "Edit");
        edit.type = "button";
        edit.title = "Put this prompt in the Studio's prompt box to change it first";
        edit.addEventListener("click", () => send({ type: "use_prompt", prompt: item.text }),
          { signal });
        actions.appendChild(edit);
      }
      li.append(text, actions);
      proposals.appendChild(li);
    }
    showFigure();
  }

  // ---- buttons and the card's controls --------------------------------------------------
  // Trait contract: mjwidgets/widgets/cardbuttons.py. Rows follow each entry's `group`; a
  // button the server cannot press is aria-disabled (still focusable) and says why on hover,
  // focus and click; a used upscale opens its result (no new job).
  // A pressed button is marked pending (aria-disabled), never `disabled`: a disabled button
  // drops focus to the page (see rebuildKeepingFocus, common.js).
  const buttonKey = (node) => (node.dataset.customId !== undefined
    ? `button ${node.dataset.customId}`
    : node.dataset.control !== undefined ? `control ${node.dataset.control}` : "");
  function showButtons() {
    rebuildKeepingFocus(rows, buttonKey, buildButtons);
  }

  // A click marks its button pending at once (markPending), so the kernel's word that it is
  // pending changes nothing here: rebuilding the rows anyway made a big Studio lay out its
  // whole grid again just before the new card came.
  function showPending() {
    const wanted = new Set(model.get("pending_buttons") || []);
    const shown = [...rows.querySelectorAll("button.mjw-pending[data-custom-id]")]
      .map((button) => button.dataset.customId);
    if (shown.length !== wanted.size || !shown.every((id) => wanted.has(id))) showButtons();
  }

  function buildButtons() {
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
      if (pending.has(b.custom_id)) markPending(button);
      button.addEventListener("click", (event) => {
        if (repeatClick(event)) return; // a double click is one job
        if (isPending(button)) return; // its request is on its way: one click, one job
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
        markPending(button);
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
        if (!enabled && !reason) markPending(button); // busy: its request is on its way
        button.addEventListener("click", (event) => {
          if (repeatClick(event) || isPending(button)) return;
          if (!enabled) {
            if (reason) explain(reason);
            return;
          }
          markPending(button);
          model.send({ type: "control", id: c.id });
        }, { signal });
        row.appendChild(button);
      }
      rows.appendChild(row);
    }
    const note = buttons.length ? "" : model.get("buttons_note") || "";
    if (note) rows.appendChild(el("div", "mjw-reason mjw-buttons-note", note));
    rows.appendChild(reasonLine);
    rows.hidden = buttons.length === 0 && controls.length === 0 && !stuck && !note;
  }
  // ---- end of buttons and controls ---------------------------------------------------------

  function showChildren() {
    children.replaceChildren();
    for (const child of model.get("children") || []) {
      const link = el("a", "mjw-child-link", `→ ${child.label.replace(/ \(\d+\)$/, "")}`);
      link.href = "#";
      link.dataset.taskId = child.task_id;
      link.title = `Show the result: ${child.label}`;
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
      modalPrompt.focus({ preventScroll: true });
      modal.scrollIntoView({ block: "nearest" });
    }
    modalSend.disabled = Boolean(m.sending);
    modalSend.textContent = m.sending ? "Sending…" : "Send";
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
  copyPrompt.addEventListener("click", async () => {
    flashNote(promptRow, (await copyText(model.get("prompt") || "")) ? "Copied" : "Copy failed");
  }, { signal });

  modalSend.addEventListener("click", (event) => {
    if (repeatClick(event)) return;
    send({ type: "modal_send", prompt: modalPrompt.value });
  }, { signal });
  modalCancel.addEventListener("click", () => send({ type: "modal_cancel" }), { signal });
  modalPrompt.addEventListener("keydown", (event) => {
    event.stopPropagation(); // keep JupyterLab's shortcuts out of the text box
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      modalSend.click();
    } else if (event.key === "Escape") {
      event.preventDefault();
      modalCancel.click();
    }
  }, { signal });

  download.addEventListener("click", () => send({ type: "full_image", mode: "download" }),
    { signal });
  copyCode.addEventListener("click", () => send({ type: "recipe" }), { signal });
  model.on("msg:custom", (msg, buffers) => {
    watch.answered();
    if (msg.type === "tile") {
      onTile(msg, buffers);
    } else if (msg.type === "recipe") {
      showRecipe(tools, msg, signal);
    } else if (msg.type === "seed") {
      lightboxSeed(root, msg.seed, msg.error);
      if (msg.seed) copyText(String(msg.seed));
    } else if (msg.type === "full_image" && buffers && buffers.length) {
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
    }
  });

  const answered = () => watch.answered();
  model.on("change:image", showImage);
  model.on("change:is_preview", showImage);
  model.on("change:aspect", showAspect);
  model.on("change:grid", showTiles);
  for (const name of ["status", "progress", "prompt", "timings", "fail_reason", "error",
    "lineage", "action", "task_id", "retrying", "compact", "status_text", "stuck"]) {
    model.on(`change:${name}`, showHeader);
  }
  const markKey = (node) => node.dataset.stars || (node.classList.contains("mjw-fav") ? "♥" : "");
  const showMarks = () => rebuildKeepingFocus(marks, markKey, () => {
    const m = model.get("marks") || {};
    marks.replaceChildren(...(m.tags ? [markButtons(model.get("task_id"), m, send, signal)] : []));
  });
  model.on("change:marks", showMarks);
  model.on("change:buttons", showButtons);
  model.on("change:buttons_note", showButtons);
  model.on("change:controls", showButtons);
  model.on("change:stuck", showButtons);
  model.on("change:pending_buttons", showPending);
  model.on("change:used_buttons", showButtons);
  model.on("change:children", showChildren);
  model.on("change:modal", showModal);
  model.on("change:prompts", showProposals);
  model.on("change:can_use_prompt", showProposals);
  model.on("change:notice", showNotice);
  for (const name of ["pending_buttons", "used_buttons", "error", "modal", "children", "notice",
    "controls", "marks"]) {
    model.on(`change:${name}`, answered);
  }
  showAspect();
  showHeader();
  showImage();
  showButtons();
  showChildren();
  showModal();
  showProposals();
  showMarks();
  notice.hidden = true;
}

export default { render };
