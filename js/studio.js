// mjwidgets Studio bar: the prompt box, its parameter controls, the Imagine button and the badge.
// Enter submits, Shift+Enter adds a line, ArrowUp/ArrowDown step through earlier prompts.
// Every prompt rule lives in Python (mjwidgets/prompt.py): the box sends its text on each pause
// and each control change, and shows the problems and parameters Python answers with.

const ASPECTS = [
  ["9:16", 9, 16], ["2:3", 2, 3], ["3:4", 3, 4], ["1:1", 1, 1],
  ["4:3", 4, 3], ["3:2", 3, 2], ["16:9", 16, 9], ["21:9", 21, 9],
];
const VERSIONS = [
  ["Default", null, null, "No version parameter: the server's default model (V8.1 today)"],
  ["8.1", "v", "8.1", "--v 8.1"],
  ["7", "v", "7", "--v 7"],
  ["6.1", "v", "6.1", "--v 6.1"],
  ["niji 7", "niji", "7", "--niji 7 (anime and illustration)"],
];
const SLIDERS = [
  ["stylize", "Stylize", 0, 1000, 100, "How strongly Midjourney's own style is applied (--stylize)"],
  ["chaos", "Chaos", 0, 100, 0, "How different the four images are from each other (--chaos)"],
  ["weird", "Weird", 0, 3000, 0, "Unconventional, quirky looks (--weird)"],
];
const SPEEDS = [
  ["Default", null, "No speed parameter: the account's current mode"],
  ["Fast", "fast", "--fast"],
  ["Relax", "relax", "--relax: slower, no fast hours used"],
  ["Turbo", "turbo", "--turbo: faster, costs twice the fast hours"],
];
const DRAFT_PAUSE_MS = 250;

function shapeIcon(w, h) {
  const box = el("span", "mjw-shape");
  const inner = el("span", "mjw-shape-inner");
  const scale = 14 / Math.max(w, h);
  inner.style.width = `${Math.max(4, Math.round(w * scale))}px`;
  inner.style.height = `${Math.max(4, Math.round(h * scale))}px`;
  box.appendChild(inner);
  return box;
}

function segmented(className, items, onPick) {
  const group = el("div", `mjw-segmented ${className}`);
  group.setAttribute("role", "radiogroup");
  const buttons = items.map((item) => {
    const button = el("button", "mjw-seg");
    button.type = "button";
    button.setAttribute("role", "radio");
    button.addEventListener("click", () => onPick(item));
    group.appendChild(button);
    return button;
  });
  return { group, buttons };
}

function render({ model, el: host, signal }) {
  const root = el("div", "mjw-studio-bar");
  root.dataset.mjwLive = model.get("uid") || "";
  const top = el("div", "mjw-studio-top");
  const title = el("span", "mjw-studio-title", "mjwidgets Studio");
  const badge = el("span", "mjw-badge");
  const counts = el("span", "mjw-studio-counts");
  top.append(title, badge, counts);
  const offline = el("div", "mjw-offline");
  offline.setAttribute("role", "alert");

  const form = el("div", "mjw-studio-form");
  const prompt = el("textarea", "mjw-prompt");
  prompt.rows = 1;
  prompt.placeholder = "What will you imagine?";
  prompt.setAttribute("aria-label", "Prompt");
  prompt.spellcheck = true;
  const settingsToggle = el("button", "mjw-settings-toggle", "⚙ Settings");
  settingsToggle.type = "button";
  settingsToggle.title = "Aspect ratio, version, stylize, chaos, weird, raw and speed";
  settingsToggle.setAttribute("aria-expanded", "false");
  const imagine = el("button", "mjw-imagine", "Imagine");
  imagine.title = "Submit the prompt (Enter); Shift+Enter adds a new line";
  form.append(prompt, settingsToggle, imagine);

  const slots = referenceSlots(model, signal, (content, buffers) => send(content, buffers));
  const tools = imageTools(model, signal, (content, buffers) => send(content, buffers),
    () => prompt.value);
  const problems = el("ul", "mjw-prompt-problems");
  problems.setAttribute("aria-live", "polite");
  const hint = el("div", "mjw-prompt-hint",
    "e.g. a red fox in snow --ar 3:2 · Enter imagines · Shift+Enter new line · "
    + "↑ ↓ earlier prompts");

  // ---- the settings panel: each control writes the prompt through Python and reads it back
  const settings = el("div", "mjw-settings");
  settings.hidden = true;
  const row = (label, ...nodes) => {
    const line = el("div", "mjw-settings-row");
    line.append(el("span", "mjw-settings-label", label), ...nodes);
    settings.appendChild(line);
    return line;
  };
  const aspectGroup = el("div", "mjw-aspects");
  const aspectButtons = new Map();
  const customAspect = el("button", "mjw-aspect mjw-aspect-custom");
  customAspect.type = "button";
  customAspect.hidden = true;
  for (const [label, w, h] of ASPECTS) {
    const button = el("button", "mjw-aspect");
    button.type = "button";
    button.dataset.ar = label;
    button.title = label === "1:1" ? "Square (the default: no --ar)" : `--ar ${label}`;
    button.append(shapeIcon(w, h), el("span", "mjw-aspect-label", label));
    button.addEventListener("click", () => change({ ar: label === "1:1" ? null : label }),
      { signal });
    aspectButtons.set(label, button);
    aspectGroup.appendChild(button);
  }
  aspectGroup.appendChild(customAspect);
  row("Aspect ratio", aspectGroup);

  const versions = segmented("mjw-versions", VERSIONS, ([, family, value]) => {
    change({ v: family === "v" ? value : null, niji: family === "niji" ? value : null });
  });
  versions.buttons.forEach((b, i) => {
    b.textContent = VERSIONS[i][0];
    b.title = VERSIONS[i][3];
    b.dataset.version = VERSIONS[i][0];
  });
  const rawLabel = el("label", "mjw-raw");
  const raw = el("input");
  raw.type = "checkbox";
  raw.addEventListener("change", () => change({ style: raw.checked ? "raw" : null }), { signal });
  rawLabel.append(raw, el("span", null, "Raw"));
  rawLabel.title = "--style raw: less of Midjourney's default beautification";
  row("Version", versions.group, rawLabel);

  const sliderLine = el("div", "mjw-sliders");
  const sliders = new Map();
  for (const [name, label, min, max, initial, tip] of SLIDERS) {
    const wrap = el("label", "mjw-slider");
    wrap.title = tip;
    const input = el("input");
    input.type = "range";
    input.min = String(min);
    input.max = String(max);
    input.value = String(initial);
    input.dataset.param = name;
    const value = el("span", "mjw-slider-value", String(initial));
    input.addEventListener("input", () => { value.textContent = input.value; }, { signal });
    input.addEventListener("change", () => {
      const n = Number(input.value);
      change({ [name]: n === initial ? null : n });
    }, { signal });
    wrap.append(el("span", "mjw-slider-name", label), input, value);
    sliders.set(name, { input, value, initial });
    sliderLine.appendChild(wrap);
  }
  row("Aesthetics", sliderLine);

  const speeds = segmented("mjw-speeds", SPEEDS, ([, flag]) => {
    change({ fast: flag === "fast" || null, relax: flag === "relax" || null,
      turbo: flag === "turbo" || null });
  });
  speeds.buttons.forEach((b, i) => {
    b.textContent = SPEEDS[i][0];
    b.title = SPEEDS[i][2];
    b.dataset.speed = SPEEDS[i][0].toLowerCase();
  });
  const modeNote = el("span", "mjw-mode-note");
  row("Speed", speeds.group, modeNote);

  const status = el("div", "mjw-studio-status");
  const sweep = el("div", "mjw-sweep-progress");
  const error = el("div", "mjw-studio-error");
  error.setAttribute("role", "alert");
  const silentNote = el("div", "mjw-silent");
  silentNote.hidden = true;
  root.append(top, offline, form, ...slots.nodes, tools, problems, hint, settings, status, sweep,
    error, silentNote);
  host.appendChild(root);
  hideSnapshotOf(model.get("uid"), signal);

  // ---- talking to Python -----------------------------------------------------------------
  let seq = 0;
  let latestDraft = 0;
  let sending = null; // the text of an Enter not answered yet
  let pendingChange = null; // {seq, text, changes, tries}
  const watch = answerWatch(signal, () => {
    silentNote.textContent = SILENT_TEXT;
    silentNote.hidden = false;
  }, () => { silentNote.hidden = true; });
  let kernelState = "live";

  function send(content, buffers) {
    if (kernelState !== "live") {
      showOffline();
      return;
    }
    watch.expect();
    model.send(content, undefined, buffers);
  }

  let draftTimer = null;
  function askDraft() {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(() => {
      seq += 1;
      latestDraft = seq;
      send({ type: "draft", seq, prompt: prompt.value });
    }, DRAFT_PAUSE_MS);
  }
  signal.addEventListener("abort", () => clearTimeout(draftTimer));

  function change(changes) {
    clearTimeout(draftTimer); // the change's answer checks the text too
    seq += 1;
    pendingChange = { seq, text: prompt.value, changes, tries: 0 };
    latestDraft = seq;
    send({ type: "set_params", seq, prompt: prompt.value, changes });
  }

  function submit() {
    if (sending !== null) return;
    sending = prompt.value;
    imagine.disabled = true;
    imagine.textContent = "Sending…";
    seq += 1;
    send({ type: "imagine", seq, prompt: prompt.value });
    if (kernelState !== "live") endSending();
  }

  function endSending() {
    sending = null;
    imagine.textContent = "Imagine";
    imagine.disabled = Boolean(model.get("busy"));
  }

  function showProblems(list, refused) {
    problems.replaceChildren();
    for (const text of list || []) problems.appendChild(el("li", null, text));
    problems.hidden = !(list && list.length);
    problems.classList.toggle("mjw-refused", Boolean(refused));
    prompt.classList.toggle("mjw-invalid", Boolean(list && list.length));
    prompt.setAttribute("aria-invalid", list && list.length ? "true" : "false");
  }

  function showParams(params) {
    params = params || {};
    const ar = typeof params.ar === "string" ? params.ar.trim() : null;
    let known = false;
    for (const [label, button] of aspectButtons) {
      const on = ar ? label === ar : label === "1:1";
      button.classList.toggle("mjw-on", on);
      button.setAttribute("aria-pressed", String(on));
      known = known || on;
    }
    customAspect.hidden = known || !ar;
    if (!known && ar) {
      const m = /^(\d+):(\d+)$/.exec(ar);
      customAspect.replaceChildren(
        m ? shapeIcon(Number(m[1]), Number(m[2])) : el("span"),
        el("span", "mjw-aspect-label", ar));
      customAspect.classList.add("mjw-on");
      customAspect.title = `--ar ${ar} (typed in the prompt)`;
    }
    const family = "niji" in params ? "niji" : "v" in params ? "v" : null;
    const value = family && params[family] !== true ? String(params[family]).trim() : "";
    let versionFound = false;
    versions.buttons.forEach((b, i) => {
      const [, fam, val] = VERSIONS[i];
      const on = family === null ? fam === null : fam === family && val === value;
      versionFound = versionFound || on;
      b.classList.toggle("mjw-on", on);
      b.setAttribute("aria-checked", String(on));
    });
    versions.group.dataset.typed = versionFound ? "" : `--${family} ${value}`.trim();
    versions.group.title = versionFound ? "" : `The prompt says ${versions.group.dataset.typed}`;
    raw.checked = typeof params.style === "string" && params.style.trim().toLowerCase() === "raw";
    for (const [name, { input, value: shown, initial }] of sliders) {
      const v = params[name];
      const n = typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : initial;
      input.value = String(n);
      shown.textContent = typeof v === "string" ? v.trim() : String(initial);
    }
    const speed = ["fast", "relax", "turbo"].filter((f) => params[f]);
    speeds.buttons.forEach((b, i) => {
      const flag = SPEEDS[i][1];
      const on = flag === null ? speed.length === 0 : speed.includes(flag);
      b.classList.toggle("mjw-on", on);
      b.setAttribute("aria-checked", String(on));
    });
  }

  model.on("msg:custom", (msg) => {
    watch.answered();
    if (msg.type === "rewritten" && pendingChange && pendingChange.seq === msg.seq) {
      const change0 = pendingChange;
      pendingChange = null;
      if (prompt.value !== change0.text && change0.tries < 3) {
        // typed meanwhile: apply the same change to the new text
        seq += 1;
        latestDraft = seq;
        pendingChange = { ...change0, seq, text: prompt.value, tries: change0.tries + 1 };
        send({ type: "set_params", seq, prompt: prompt.value, changes: change0.changes });
        return;
      }
      if (prompt.value === change0.text) {
        prompt.value = msg.prompt;
        autoGrow();
        latestDraft = msg.seq;
        // the plan under the reference slots follows the rewritten text
        if ((model.get("references") || []).length) askDraft();
      }
    }
    if (msg.type === "draft" || msg.type === "rewritten") {
      if (msg.seq !== latestDraft) return; // an older answer: the text moved on
      if (prompt.value === msg.prompt) {
        showProblems(msg.problems, false);
        showParams(msg.params);
      }
    } else if (msg.type === "sent") {
      endSending();
      remember(msg.prompt);
      if (prompt.value === msg.prompt) {
        prompt.value = "";
        autoGrow();
        showProblems([], false);
        showParams({});
        askDraft(); // the plan under the slots follows the now empty box
      }
      recallIndex = -1;
    } else if (msg.type === "refused") {
      endSending();
      if (prompt.value === msg.prompt) showProblems(msg.problems, true);
      prompt.focus();
    } else if (msg.type === "failed") {
      endSending();
    } else if (msg.type === "recall") {
      recallList = msg.prompts || [];
      for (const text of sessionSent) {
        if (!recallList.includes(text)) recallList.unshift(text);
      }
      if (recallWanted) {
        recallWanted = false;
        step(1);
      }
    } else if (msg.type === "set_prompt") {
      prompt.value = msg.prompt || "";
      autoGrow();
      prompt.focus();
      askDraft();
    }
  });

  // ---- earlier prompts on ArrowUp / ArrowDown ---------------------------------------------
  let recallList = null; // newest first, asked of Python on the first ArrowUp
  let recallWanted = false;
  let recallIndex = -1; // -1: the text being written
  let draft = "";
  const sessionSent = [];
  function remember(text) {
    const i = sessionSent.indexOf(text);
    if (i >= 0) sessionSent.splice(i, 1);
    sessionSent.unshift(text);
    if (recallList) {
      const j = recallList.indexOf(text);
      if (j >= 0) recallList.splice(j, 1);
      recallList.unshift(text);
    }
  }
  function step(direction) { // +1: older, -1: newer
    if (recallList === null) {
      recallWanted = direction > 0;
      seq += 1;
      send({ type: "recall", seq });
      return;
    }
    const next = recallIndex + direction;
    if (next < -1 || next >= recallList.length) return;
    if (recallIndex === -1) draft = prompt.value;
    recallIndex = next;
    prompt.value = next === -1 ? draft : recallList[next];
    autoGrow();
    prompt.setSelectionRange(prompt.value.length, prompt.value.length);
    root.dataset.recall = String(recallIndex);
    askDraft();
  }

  function autoGrow() {
    prompt.style.height = "auto";
    prompt.style.height = `${Math.min(prompt.scrollHeight + 2, 200)}px`;
  }

  // An image pasted or dropped into the prompt becomes an image prompt (a slot's own drop
  // target picks the slot).
  prompt.addEventListener("paste", (event) => {
    const files = Array.from((event.clipboardData && event.clipboardData.files) || [])
      .filter((f) => f.type.startsWith("image/"));
    if (files.length) {
      event.preventDefault();
      slots.addFiles("images", files);
    }
  }, { signal });
  prompt.addEventListener("dragover", (event) => event.preventDefault(), { signal });
  prompt.addEventListener("drop", (event) => {
    const files = Array.from((event.dataTransfer && event.dataTransfer.files) || []);
    if (files.length) {
      event.preventDefault();
      slots.addFiles("images", files);
    }
  }, { signal });

  imagine.addEventListener("click", (event) => {
    if (!repeatClick(event)) submit(); // a double click is one job
  }, { signal });
  settingsToggle.addEventListener("click", () => {
    settings.hidden = !settings.hidden;
    settingsToggle.setAttribute("aria-expanded", String(!settings.hidden));
    settingsToggle.classList.toggle("mjw-on", !settings.hidden);
  }, { signal });
  prompt.addEventListener("input", () => {
    recallIndex = -1;
    root.dataset.recall = "-1";
    autoGrow();
    askDraft();
  }, { signal });
  prompt.addEventListener("keydown", (event) => {
    event.stopPropagation(); // JupyterLab would run the cell on Shift+Enter
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
      return;
    }
    const before = prompt.value.slice(0, prompt.selectionStart);
    const after = prompt.value.slice(prompt.selectionEnd);
    if (event.key === "ArrowUp" && !before.includes("\n") && !event.shiftKey) {
      event.preventDefault();
      step(1);
    } else if (event.key === "ArrowDown" && !after.includes("\n") && !event.shiftKey
      && recallIndex > -1) {
      event.preventDefault();
      step(-1);
    }
  }, { signal });

  function showOffline() {
    offline.textContent = offlineText(kernelState, "Studio");
    offline.hidden = kernelState === "live";
    root.classList.toggle("mjw-dead", kernelState !== "live");
  }
  watchKernel(host, model, signal, (state) => {
    kernelState = state;
    showOffline();
  });

  // The badge: which server, and whether it answers ({ok, label, reason} from the kernel:
  // green when it answered, red with the reason when the key is refused or it is down).
  function showBadge() {
    const sim = model.get("simulator");
    const state = model.get("backend_state") || {};
    const where = sim ? "simulator" : model.get("backend_label") || "service";
    badge.textContent = state.ok === false ? `${where} · ${state.label}` : where;
    badge.className = "mjw-badge";
    if (!sim) badge.classList.add("mjw-badge-real");
    badge.classList.toggle("mjw-badge-ok", state.ok === true);
    badge.classList.toggle("mjw-badge-down", state.ok === false);
    badge.dataset.ok = state.ok === true ? "yes" : state.ok === false ? "no" : "unknown";
    const intro = sim
      ? "Running on the embedded simulator: set MJ_BASE_URL and MJ_API_KEY (and MJ_AUTH) "
        + "before creating the Studio to use a real Midjourney-proxy service"
      : `Server: ${model.get("backend_label")}`;
    badge.title = state.reason ? `${intro}\n${state.label}: ${state.reason}` : intro;
  }

  function update() {
    showBadge();
    status.textContent = model.get("status_text") || "";
    sweep.textContent = model.get("sweep_text") || "";
    sweep.hidden = !model.get("sweep_text");
    error.textContent = model.get("error") || "";
    error.hidden = !model.get("error");
    if (sending === null) imagine.disabled = Boolean(model.get("busy"));
    const mode = model.get("client_mode");
    modeNote.textContent = mode
      ? `This Studio's client sends every job to /mj-${mode}, which trueai prefers over the prompt`
      : "";
    const c = model.get("counts") || {};
    const parts = [];
    if (c.cards) parts.push(`${c.cards} card${c.cards === 1 ? "" : "s"}`);
    if (c.running) parts.push(`${c.running} running`);
    if (c.queued) parts.push(`${c.queued} queued`);
    if (c.failed) parts.push(`${c.failed} failed`);
    counts.textContent = parts.join(" · ");
  }

  for (const name of ["simulator", "backend_label", "backend_state", "status_text", "sweep_text",
    "error", "busy", "client_mode", "counts"]) {
    model.on(`change:${name}`, update);
  }
  update();
  showProblems([], false);
  showParams({});
}

export default { render };
