// mjwidgets gallery library: favourites, 1–5 stars and tags on the thumbnails and the shown
// task, the library's filters (favourites, rating, tag, version, aspect ratio, kind) and the
// ticked thumbnails as a zip. The kernel keeps every mark (the history file); this only draws
// them and sends clicks. Joined after common.js (el) and before historyview.js, which uses it.

const STAR_CHOICES = [[0, "any rating"], [1, "★ 1+"], [2, "★ 2+"], [3, "★ 3+"], [4, "★ 4+"],
  [5, "★ 5"]];
const KIND_CHOICES = [["", "images and videos"], ["image", "images"], ["video", "videos"]];

function fillSelect(select, pairs, current) {
  select.replaceChildren();
  for (const [value, text] of pairs) {
    const option = el("option", null, text);
    option.value = String(value);
    select.appendChild(option);
  }
  select.value = String(current ?? "");
  if (select.value !== String(current ?? "")) select.value = "";
}

// The filter row: returns {row, update}. `setTrait(name, value)` saves one trait.
function libraryFilters(model, signal, setTrait) {
  const row = el("div", "mjw-history-filters mjw-library-filters");
  const favourite = el("button", "mjw-filter-favourite", "♥ Favourites");
  favourite.type = "button";
  favourite.title = "Show only favourites";
  const rating = el("select", "mjw-filter-rating");
  rating.setAttribute("aria-label", "Rating");
  const tag = el("select", "mjw-filter-tag");
  tag.setAttribute("aria-label", "Tag");
  const version = el("select", "mjw-filter-version");
  version.setAttribute("aria-label", "Model version");
  const aspect = el("select", "mjw-filter-aspect");
  aspect.setAttribute("aria-label", "Aspect ratio");
  const kind = el("select", "mjw-filter-kind");
  kind.setAttribute("aria-label", "Kind");
  row.append(favourite, rating, tag, version, aspect, kind);

  favourite.addEventListener("click", () => setTrait("favourite", !model.get("favourite")),
    { signal });
  rating.addEventListener("change", () => setTrait("min_rating", Number(rating.value) || 0),
    { signal });
  for (const [select, name] of [[tag, "tag"], [version, "version"], [aspect, "aspect"],
    [kind, "kind"]]) {
    select.addEventListener("change", () => setTrait(name, select.value), { signal });
  }

  function withCurrent(values, current) {
    const list = [...(values || [])];
    if (current && !list.includes(current)) list.push(current);
    return list;
  }

  function update() {
    const facets = model.get("facets") || {};
    const on = Boolean(model.get("favourite"));
    favourite.classList.toggle("mjw-on", on);
    favourite.setAttribute("aria-pressed", String(on));
    fillSelect(rating, STAR_CHOICES, model.get("min_rating") || 0);
    const tags = withCurrent(facets.tags, model.get("tag"));
    fillSelect(tag, [["", "any tag"], ...tags.map((t) => [t, `#${t}`])], model.get("tag"));
    const versions = withCurrent(facets.versions, model.get("version"));
    fillSelect(version, [["", "any version"], ...versions.map((v) => [v, /^\d/.test(v)
      ? `v ${v}` : v])], model.get("version"));
    const aspects = withCurrent(facets.aspects, model.get("aspect"));
    fillSelect(aspect, [["", "any aspect"], ...aspects.map((a) => [a, `--ar ${a}`])],
      model.get("aspect"));
    fillSelect(kind, KIND_CHOICES, model.get("kind"));
  }
  return { row, update };
}

// ♥ and five stars for one task; `send(content)` carries a click to the kernel.
function markButtons(taskId, marks, send, signal) {
  const box = el("span", "mjw-marks");
  const heart = el("button", "mjw-fav", marks.favourite ? "♥" : "♡");
  heart.type = "button";
  heart.classList.toggle("mjw-on", Boolean(marks.favourite));
  heart.title = marks.favourite ? "A favourite: click to unmark" : "Mark as a favourite";
  heart.setAttribute("aria-pressed", String(Boolean(marks.favourite)));
  heart.setAttribute("aria-label", `favourite #${taskId}`);
  heart.addEventListener("click", (event) => {
    event.stopPropagation();
    send({ type: "favourite", task_id: taskId, on: !marks.favourite });
  }, { signal });
  const stars = el("span", "mjw-stars");
  stars.dataset.rating = String(marks.rating || 0);
  for (let n = 1; n <= 5; n += 1) {
    const star = el("button", "mjw-star", n <= (marks.rating || 0) ? "★" : "☆");
    star.type = "button";
    star.dataset.stars = String(n);
    star.classList.toggle("mjw-on", n <= (marks.rating || 0));
    star.title = marks.rating === n ? "Click again to clear the rating" : `Rate ${n} of 5`;
    star.setAttribute("aria-label", `rate #${taskId} ${n} of 5`);
    star.addEventListener("click", (event) => {
      event.stopPropagation();
      send({ type: "rate", task_id: taskId, stars: marks.rating === n ? 0 : n });
    }, { signal });
    stars.appendChild(star);
  }
  box.append(heart, stars);
  return box;
}

// The tags of one task as chips (× removes one when `send` is given).
function tagChips(taskId, tags, send, signal) {
  const box = el("span", "mjw-tags");
  for (const tag of tags || []) {
    const chip = el("span", "mjw-tag");
    chip.dataset.tag = tag;
    chip.appendChild(el("span", "mjw-tag-text", `#${tag}`));
    if (send) {
      const remove = el("button", "mjw-tag-remove", "×");
      remove.type = "button";
      remove.title = `Remove the tag “${tag}”`;
      remove.setAttribute("aria-label", `remove tag ${tag}`);
      remove.addEventListener("click", (event) => {
        event.stopPropagation();
        send({ type: "untag", task_id: taskId, tag });
      }, { signal });
      chip.appendChild(remove);
    }
    box.appendChild(chip);
  }
  return box;
}

// The shown task's marks with a field to add a tag: returns {box, update(taskId, marks)}.
function marksEditor(send, signal) {
  const box = el("div", "mjw-marks-editor");
  const marksSlot = el("span", "mjw-marks-slot");
  const chips = el("span", "mjw-tags-slot");
  const input = el("input", "mjw-tag-input");
  input.type = "text";
  input.placeholder = "add a tag…";
  input.maxLength = 60;
  input.setAttribute("aria-label", "Add a tag");
  const known = el("datalist"); // the tags in use, offered as the person types
  known.id = `mjw-tags-${Math.random().toString(36).slice(2)}`;
  input.setAttribute("list", known.id);
  input.addEventListener("keydown", (event) => {
    event.stopPropagation(); // JupyterLab's shortcuts must not see keys typed here
    if (event.key === "Enter" && input.value.trim() && box.dataset.taskId) {
      send({ type: "tag", task_id: box.dataset.taskId, tag: input.value.trim() });
      input.value = "";
    }
  }, { signal });
  box.append(marksSlot, chips, input, known);
  function update(taskId, marks, tagsInUse) {
    box.dataset.taskId = taskId || "";
    box.hidden = !taskId;
    if (!taskId) return;
    const m = marks || { favourite: false, rating: 0, tags: [] };
    marksSlot.replaceChildren(markButtons(taskId, m, send, signal));
    chips.replaceChildren(tagChips(taskId, m.tags, send, signal));
    known.replaceChildren(...(tagsInUse || []).filter((t) => !m.tags.includes(t))
      .map((t) => Object.assign(el("option"), { value: t })));
  }
  return { box, update };
}

// A zip the kernel sent as one message's bytes, saved as a download.
function saveZip(msg, buffers) {
  if (!buffers || !buffers.length) return false;
  const url = URL.createObjectURL(new Blob([buffers[0]], { type: "application/zip" }));
  const a = el("a");
  a.href = url;
  a.download = msg.filename || "mjwidgets-selection.zip";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return true;
}
