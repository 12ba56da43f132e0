// mjwidgets HistoryView: the stored tasks as thumbnails with a search box and filters, the shown
// task's lineage as a tree, "reuse prompt" and "compare". Filters are synced traits (the kernel
// queries the history); clicks leave as messages. Every server-provided string is inserted with
// textContent, never as HTML. Joined after common.js (el, flashNote), copycode.js ("Copy as
// code"), gallerylibrary.js (marks, the library's filters, the zip) and galleryinputs.js
// ("Blend N", "Use as ▸").

function when(text) {
  // "14:31" today, "11-24 14:31" this year, "2025-11-24" before
  if (!text) return "";
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  const now = new Date();
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (d.toDateString() === now.toDateString()) return time;
  if (d.getFullYear() === now.getFullYear()) {
    return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
  }
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function keepKeys(node, signal) {
  // JupyterLab's notebook shortcuts must not see keys typed into our fields
  node.addEventListener("keydown", (event) => event.stopPropagation(), { signal });
}

function render({ model, el: host, signal }) {
  const root = el("div", "mjw-history");
  host.appendChild(root);

  const top = el("div", "mjw-history-top");
  const title = el("span", "mjw-history-title", "History");
  const count = el("span", "mjw-history-count");
  const refresh = el("button", "mjw-history-refresh", "↻");
  refresh.title = "Look for new tasks";
  refresh.setAttribute("aria-label", "Refresh");
  top.append(title, count, refresh);

  const filters = el("div", "mjw-history-filters");
  const search = el("input", "mjw-history-search");
  search.type = "search";
  search.placeholder = "Search prompts…";
  search.setAttribute("aria-label", "Search prompts");
  const status = el("select", "mjw-history-status");
  status.setAttribute("aria-label", "Status");
  const action = el("select", "mjw-history-action");
  action.setAttribute("aria-label", "Action");
  const sinceLabel = el("label", "mjw-history-date", "from ");
  const since = el("input", "mjw-history-since");
  since.type = "date";
  sinceLabel.appendChild(since);
  const untilLabel = el("label", "mjw-history-date", "to ");
  const until = el("input", "mjw-history-until");
  until.type = "date";
  untilLabel.appendChild(until);
  filters.append(search, status, action, sinceLabel, untilLabel);
  const library = libraryFilters(model, signal, setTrait);

  const selbar = el("div", "mjw-history-selbar");
  const selcount = el("span", "mjw-history-selcount");
  const compare = el("button", "mjw-compare", "Compare");
  compare.title = "Show the ticked images side by side";
  const zip = el("button", "mjw-history-zip", "Download zip");
  zip.title = "Download the ticked images as one zip: each image carries its prompt, "
    + "parameters and lineage; with a manifest and a contact sheet";
  const tagTicked = el("input", "mjw-history-tag-ticked");
  tagTicked.type = "text";
  tagTicked.maxLength = 60;
  tagTicked.placeholder = "tag the ticked…";
  tagTicked.setAttribute("aria-label", "Tag the ticked images");
  const clear = el("button", "mjw-history-clear", "Clear ticks");
  const inputs = galleryInputs(model, signal);
  selbar.append(selcount, compare, zip, tagTicked, clear, inputs.row);

  const grid = el("div", "mjw-history-grid");
  grid.setAttribute("role", "list");
  const empty = el("div", "mjw-history-empty", "No stored task matches.");

  const detail = el("div", "mjw-history-detail");
  const detailHead = el("div", "mjw-history-detail-head");
  const detailTitle = el("span", "mjw-history-detail-title");
  const reuse = el("button", "mjw-reuse", "Reuse prompt");
  const copyCode = copyCodeButton();
  detailHead.append(detailTitle, reuse, copyCode);
  const editor = marksEditor((content) => model.send(content), signal);
  const detailPrompt = el("div", "mjw-history-detail-prompt");
  const detailNote = el("div", "mjw-history-detail-note");
  const lineageTitle = el("div", "mjw-history-lineage-title", "Lineage");
  const tree = el("ul", "mjw-lineage-tree");
  detail.append(detailHead, editor.box, detailPrompt, detailNote, lineageTitle, tree);

  const message = el("div", "mjw-history-message");
  const hint = el("div", "mjw-history-hint");
  hint.hidden = true;
  const error = el("div", "mjw-history-error");
  root.append(top, filters, library.row, selbar, grid, empty, message, hint, error, detail);

  for (const field of [search, since, until, tagTicked]) keepKeys(field, signal);
  tagTicked.addEventListener("keydown", (event) => {
    const ticked = model.get("selected") || [];
    if (event.key === "Enter" && tagTicked.value.trim() && ticked.length) {
      model.send({ type: "tag", task_ids: ticked, tag: tagTicked.value.trim() });
      tagTicked.value = "";
    }
  }, { signal });

  let urls = [];
  signal.addEventListener("abort", () => urls.forEach((u) => URL.revokeObjectURL(u)));

  function setTrait(name, value) {
    if (model.get(name) === value) return;
    model.set(name, value);
    model.save_changes();
  }

  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => setTrait("query", search.value), 250);
  }, { signal });
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      clearTimeout(timer);
      setTrait("query", search.value);
    }
  }, { signal });
  status.addEventListener("change", () => setTrait("status", status.value), { signal });
  action.addEventListener("change", () => setTrait("action", action.value), { signal });
  since.addEventListener("change", () => setTrait("since", since.value), { signal });
  until.addEventListener("change", () => setTrait("until", until.value), { signal });
  refresh.addEventListener("click", () => model.send({ type: "refresh" }), { signal });
  compare.addEventListener("click", () => model.send({ type: "compare" }), { signal });
  clear.addEventListener("click", () => setTrait("selected", []), { signal });
  zip.addEventListener("click", () => {
    zipBusy = true;
    zip.disabled = true;
    zip.textContent = "Preparing zip…";
    model.send({ type: "download" });
  }, { signal });
  copyCode.addEventListener("click", () => {
    model.send({ type: "recipe", task_id: model.get("current") });
  }, { signal });
  model.on("msg:custom", (msg, buffers) => {
    if (msg.type === "recipe") {
      if (msg.task_id === model.get("current")) showRecipe(detailHead, msg, signal);
    } else if (msg.type === "inputs_done") {
      inputs.done();
    } else if (msg.type === "zip") {
      zipBusy = false;
      showSelection();
      if (buffers && buffers.length) saveZip(msg, buffers);
    }
  });
  let zipBusy = false;
  reuse.addEventListener("click", () => {
    model.send({ type: "reuse", task_id: model.get("current") });
  }, { signal });

  // A click the kernel never answers (it is busy, or JupyterLab lost the message after a
  // kernel restart made from outside this page) should say so instead of doing nothing.
  let waiting = null;
  function select(taskId) {
    clearTimeout(waiting);
    model.send({ type: "select", task_id: taskId });
    waiting = setTimeout(() => {
      if (model.get("current") === taskId) return;
      hint.textContent = "No answer from the kernel yet: is it busy? If it was restarted from "
        + "elsewhere, reload this page.";
      hint.hidden = false;
    }, 6000);
  }
  signal.addEventListener("abort", () => clearTimeout(waiting));

  function toggle(taskId, on) {
    const chosen = (model.get("selected") || []).filter((id) => id !== taskId);
    if (on) chosen.push(taskId);
    model.set("selected", chosen);
    model.save_changes();
  }

  function options(select, values, anyText, current) {
    select.replaceChildren();
    const any = el("option", null, anyText);
    any.value = "";
    select.appendChild(any);
    for (const v of values) {
      const option = el("option", null, v.replace(/_/g, " ").toLowerCase());
      option.value = v;
      select.appendChild(option);
    }
    select.value = current || "";
  }

  function showFilters() {
    if (document.activeElement !== search && search.value !== model.get("query")) {
      search.value = model.get("query") || "";
    }
    options(status, model.get("statuses") || [], "any status", model.get("status"));
    options(action, model.get("actions") || [], "any action", model.get("action"));
    since.value = model.get("since") || "";
    until.value = model.get("until") || "";
  }

  function showItems() {
    urls.forEach((u) => URL.revokeObjectURL(u));
    urls = [];
    grid.replaceChildren();
    const items = model.get("items") || [];
    const chosen = new Set(model.get("selected") || []);
    const current = model.get("current");
    for (const item of items) {
      const tile = el("div", "mjw-thumb");
      tile.dataset.taskId = item.task_id;
      tile.dataset.status = item.status;
      tile.tabIndex = 0;
      tile.setAttribute("role", "listitem");
      tile.setAttribute("aria-label", `${item.action} ${item.status}: ${item.prompt}`);
      tile.title = item.prompt || `#${item.task_id}`;
      tile.classList.toggle("mjw-thumb-current", item.task_id === current);
      tile.classList.toggle("mjw-thumb-ticked", chosen.has(item.task_id));

      const frame = el("div", "mjw-thumb-frame");
      const data = item.thumb;
      if (data && (data.byteLength || data.length)) {
        const url = URL.createObjectURL(new Blob([data], { type: "image/webp" }));
        urls.push(url);
        const img = el("img", "mjw-thumb-img");
        img.alt = item.prompt || "";
        img.src = url;
        frame.appendChild(img);
        if (item.video) frame.appendChild(videoBadge(item.video, "mjw-thumb-video"));
      } else {
        const label = item.status === "SUCCESS" ? "image not cached" : item.status.toLowerCase();
        frame.appendChild(el("div", "mjw-thumb-empty", label.replace(/_/g, " ")));
      }
      const tick = el("label", "mjw-thumb-tick");
      tick.title = "Tick to compare";
      const box = el("input", "mjw-thumb-check");
      box.type = "checkbox";
      box.checked = chosen.has(item.task_id);
      box.setAttribute("aria-label", `compare #${item.task_id}`);
      tick.appendChild(box);
      tick.addEventListener("click", (event) => event.stopPropagation(), { signal });
      box.addEventListener("change", () => toggle(item.task_id, box.checked), { signal });
      frame.appendChild(tick);
      if (item.status !== "SUCCESS") {
        frame.appendChild(el("span", `mjw-thumb-status mjw-thumb-status-${item.status.toLowerCase()}`,
          item.status.replace(/_/g, " ").toLowerCase()));
      }

      const markRow = el("div", "mjw-thumb-marks"); // filled by showMarks
      const tagRow = el("div", "mjw-thumb-tags");
      const caption = el("div", "mjw-thumb-caption", item.prompt || "(no prompt)");
      const metaText = [item.via || item.action.toLowerCase(), when(item.when)]
        .filter(Boolean).join(" · ");
      const meta = el("div", "mjw-thumb-meta", metaText);
      meta.title = (item.when ? new Date(item.when).toLocaleString() : "")
        + (item.other_server ? " · made on another server (an earlier session)" : "");
      tile.append(frame, markRow, tagRow, caption, meta);
      tile.addEventListener("click", () => select(item.task_id), { signal });
      tile.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          event.stopPropagation();
          select(item.task_id);
        }
      }, { signal });
      grid.appendChild(tile);
    }
    const total = model.get("total") || items.length;
    const limit = model.get("limit");
    count.textContent = `${total} task${total === 1 ? "" : "s"}`
      + (limit && total >= limit ? ` (newest ${limit})` : "");
    empty.hidden = items.length > 0;
    grid.hidden = items.length === 0;
    showSelection();
    showMarks();
  }

  function showSelection() {
    const chosen = new Set(model.get("selected") || []);
    const n = chosen.size;
    selcount.textContent = n ? `${n} ticked`
      : "Tick images to compare, blend or download them";
    compare.disabled = n < 2;
    compare.textContent = n >= 2 ? `Compare ${n}` : "Compare";
    zip.disabled = n === 0 || zipBusy;
    zip.hidden = n === 0;
    if (!zipBusy) zip.textContent = n ? `Download ${n} as zip` : "Download zip";
    clear.hidden = n === 0;
    tagTicked.hidden = n === 0;
    inputs.update(n);
    for (const tile of grid.children) {
      const on = chosen.has(tile.dataset.taskId);
      tile.classList.toggle("mjw-thumb-ticked", on);
      const box = tile.querySelector("input.mjw-thumb-check");
      if (box) box.checked = on;
    }
  }

  // A video's mark: "▶ 4 clips · 5 s" (its picture is the first clip's poster).
  function videoBadge(video, className) {
    const parts = [video.clips > 1 ? `${video.clips} clips` : "video"];
    if (video.duration) parts.push(`${Math.round(video.duration)} s`);
    const badge = el("span", className, `▶ ${parts.join(" · ")}`);
    badge.title = "A video: open its card to play the clips";
    return badge;
  }

  function treeNode(node) {
    const li = el("li", "mjw-lineage-item");
    const button = el("button", "mjw-lineage-node");
    button.dataset.taskId = node.task_id;
    button.title = node.prompt ? `${node.prompt}\n#${node.task_id}` : `#${node.task_id}`;
    if (node.current) {
      button.classList.add("mjw-lineage-current");
      button.setAttribute("aria-current", "true");
    }
    button.append(
      el("span", "mjw-lineage-via", node.via ? `${node.via} →` : "●"),
      el("span", "mjw-lineage-action", (node.action || "").toLowerCase()),
      el("span", `mjw-lineage-status mjw-lineage-status-${(node.status || "").toLowerCase()}`,
        (node.status || "").replace(/_/g, " ").toLowerCase()),
      el("span", "mjw-lineage-id", `#${node.task_id}`),
    );
    if (node.video) button.insertBefore(videoBadge(node.video, "mjw-lineage-video"),
      button.lastChild);
    button.addEventListener("click", () => select(node.task_id), { signal });
    li.appendChild(button);
    if (node.children && node.children.length) {
      const ul = el("ul", "mjw-lineage-children");
      for (const child of node.children) ul.appendChild(treeNode(child));
      li.appendChild(ul);
    }
    return li;
  }

  function showDetail() {
    const current = model.get("current");
    hint.hidden = true;
    detail.hidden = !current;
    detailTitle.textContent = current ? `Task #${current}` : "";
    detailPrompt.textContent = model.get("current_prompt") || "";
    detailNote.textContent = model.get("current_note") || "";
    detailNote.hidden = !model.get("current_note");
    reuse.title = model.get("has_studio")
      ? "Put this prompt into the Studio's prompt box"
      : "Copy this prompt into a text field below";
    reuse.disabled = !model.get("current_prompt");
    tree.replaceChildren();
    const lineage = model.get("lineage") || {};
    if (lineage.task_id) tree.appendChild(treeNode(lineage));
    lineageTitle.hidden = !lineage.task_id;
    for (const tile of grid.children) {
      tile.classList.toggle("mjw-thumb-current", tile.dataset.taskId === current);
    }
    showMarks();
  }

  // ♥, stars and tags: their own trait, so a click redraws these rows, not the thumbnails
  function showMarks() {
    const all = model.get("marks") || {};
    const none = { favourite: false, rating: 0, tags: [] };
    for (const tile of grid.children) {
      const taskId = tile.dataset.taskId;
      const marks = all[taskId] || none;
      const row = tile.querySelector(".mjw-thumb-marks");
      const tagRow = tile.querySelector(".mjw-thumb-tags");
      if (!row || !tagRow) continue;
      row.replaceChildren(markButtons(taskId, marks, (c) => model.send(c), signal));
      const chips = tagChips(taskId, marks.tags, null, signal);
      tagRow.title = marks.tags.map((t) => `#${t}`).join(" ");
      tagRow.replaceChildren(chips);
      tile.classList.toggle("mjw-thumb-favourite", Boolean(marks.favourite));
      tile.dataset.rating = String(marks.rating || 0);
    }
    const current = model.get("current");
    const shown = (model.get("items") || []).some((i) => i.task_id === current);
    editor.update(shown ? current : "", all[current] || none, (model.get("facets") || {}).tags);
    copyCode.disabled = !current;
  }

  function showMessages() {
    message.textContent = model.get("message") || "";
    message.hidden = !model.get("message");
    error.textContent = model.get("error") || "";
    error.hidden = !model.get("error");
  }

  model.on("change:items", showItems);
  model.on("change:selected", showSelection);
  for (const name of ["query", "status", "action", "since", "until", "statuses", "actions"]) {
    model.on(`change:${name}`, showFilters);
  }
  model.on("change:has_studio", showSelection);
  for (const name of ["current", "current_prompt", "current_note", "lineage", "has_studio"]) {
    model.on(`change:${name}`, showDetail);
  }
  for (const name of ["favourite", "min_rating", "tag", "version", "aspect", "kind", "facets"]) {
    model.on(`change:${name}`, library.update);
  }
  model.on("change:marks", showMarks);
  model.on("change:facets", showMarks);
  model.on("change:message", showMessages);
  model.on("change:error", showMessages);
  showFilters();
  library.update();
  showItems();
  showDetail();
  showMessages();
}

export default { render };
