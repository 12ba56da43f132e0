// mjwidgets Compare: images side by side at one display width, each prompt diffed against the
// first one (<ins>/<del> built with textContent), and a table of the parameters that differ.
// Every server-provided string is inserted with textContent, never as HTML.
// Joined after common.js (el, adoptStyles…) by widgets/plumbing.py: front_end.

const DIFF = {
  same: ["span", "mjw-diff-same"],
  added: ["ins", "mjw-diff-added"],
  removed: ["del", "mjw-diff-removed"],
};

function render({ model, el: host, signal }) {
  const root = el("div", "mjw-compare-view");
  host.appendChild(root);
  let urls = [];
  const clipUrls = new Map(); // item index → Blob URL of its clip (asked of the kernel once)
  const waiting = new Map(); // item index → [resolve, reject] pairs
  signal.addEventListener("abort", () => {
    urls.forEach((u) => URL.revokeObjectURL(u));
    clipUrls.forEach((u) => URL.revokeObjectURL(u));
  });

  // ---- clips: a video item's clip plays over its poster ----------------------------------------
  function clipUrl(index) {
    if (clipUrls.has(index)) return Promise.resolve(clipUrls.get(index));
    return new Promise((resolve, reject) => {
      const list = waiting.get(index) || [];
      list.push([resolve, reject]);
      waiting.set(index, list);
      if (list.length === 1) model.send({ type: "clip", item: index });
    });
  }
  model.on("msg:custom", (msg, buffers) => {
    if (msg.type !== "clip") return;
    const list = waiting.get(msg.item) || [];
    waiting.delete(msg.item);
    if (msg.error) {
      list.forEach(([, reject]) => reject(new Error(msg.error)));
      return;
    }
    if (!clipUrls.has(msg.item)) {
      clipUrls.set(msg.item,
        URL.createObjectURL(new Blob([buffers[0]], { type: msg.mime || "video/mp4" })));
    }
    list.forEach(([resolve]) => resolve(clipUrls.get(msg.item)));
  });

  async function playClips(frames, fromStart) {
    const videos = await Promise.all(frames.map(async (frame) => {
      const video = frame.querySelector("video");
      frame.dataset.state = "loading";
      try {
        const url = await clipUrl(Number(frame.dataset.item));
        if (video.getAttribute("src") !== url) video.src = url;
        return video;
      } catch (err) {
        frame.dataset.state = "error";
        frame.title = `The clip is not available: ${err.message}`;
        return null;
      }
    }));
    const ready = videos.filter(Boolean);
    await Promise.all(ready.map((v) => (v.readyState >= 2 ? null
      : new Promise((r) => v.addEventListener("loadeddata", r, { once: true })))));
    for (const video of ready) {
      if (fromStart) video.currentTime = 0;
      video.play().then(() => { video.parentElement.dataset.state = "playing"; }, () => {});
    }
  }

  function diffLine(ops) {
    const line = el("div", "mjw-compare-prompt");
    ops.forEach(([op, token], i) => {
      const [tag, cls] = DIFF[op] || DIFF.same;
      if (i > 0) line.appendChild(document.createTextNode(" "));
      const span = el(tag, cls, token);
      if (op === "added") span.title = "not in the first prompt";
      if (op === "removed") span.title = "in the first prompt, not in this one";
      line.appendChild(span);
    });
    if (!ops.length) line.appendChild(el("span", "mjw-compare-noprompt", "(no prompt)"));
    return line;
  }

  function update() {
    urls.forEach((u) => URL.revokeObjectURL(u));
    urls = [];
    root.replaceChildren();
    const items = model.get("items") || [];
    const width = model.get("image_width") || 440;
    root.style.setProperty("--mjw-compare-width", `${width}px`);
    root.style.setProperty("--mjw-compare-count", String(Math.max(1, items.length)));
    root.dataset.count = String(items.length);

    const titleText = model.get("title");
    if (titleText) root.appendChild(el("div", "mjw-compare-title", titleText));
    const row = el("div", "mjw-compare-row");
    items.forEach((item, index) => {
      const column = el("figure", "mjw-compare-item");
      column.dataset.index = String(index);
      if (item.task_id) column.dataset.taskId = item.task_id;
      const head = el("div", "mjw-compare-head");
      head.appendChild(el("span", "mjw-compare-letter", String.fromCharCode(65 + (index % 26))));
      head.appendChild(el("span", "mjw-compare-label", item.label || `image ${index + 1}`));
      if (index === 0) head.appendChild(el("span", "mjw-compare-ref", "reference"));
      const img = el("img", "mjw-compare-img");
      img.alt = item.prompt ? `image ${index + 1}: ${item.prompt}` : `image ${index + 1}`;
      const size = item.size || [];
      if (size.length === 2) {
        img.title = `${size[0]}×${size[1]} px`;
        img.style.aspectRatio = `${size[0]} / ${size[1]}`;
      }
      const data = item.image;
      if (data && (data.byteLength || data.length)) {
        const url = URL.createObjectURL(new Blob([data], { type: `image/${item.format || "webp"}` }));
        urls.push(url);
        img.src = url;
      }
      let picture = img;
      if (item.clip) { // the poster, and the clip over it once played
        picture = el("div", "mjw-compare-clip");
        picture.dataset.item = String(index);
        picture.dataset.state = "poster";
        if (size.length === 2) picture.style.aspectRatio = `${size[0]} / ${size[1]}`;
        const video = el("video", "mjw-compare-video");
        video.muted = true;
        video.loop = true;
        video.playsInline = true;
        picture.title = "Click to play or pause this clip";
        picture.append(img, video, el("span", "mjw-compare-clip-mark", "▶"));
        picture.addEventListener("click", () => {
          if (!video.paused) {
            video.pause();
            picture.dataset.state = "paused";
          } else {
            playClips([picture], false);
          }
        }, { signal });
      }
      const caption = el("figcaption", "mjw-compare-caption");
      caption.appendChild(diffLine(item.diff || []));
      const facts = size.length === 2 ? [`${size[0]}×${size[1]}`] : [];
      if (item.clip && item.clip.duration) facts.push(`${Number(item.clip.duration).toFixed(1)} s`);
      if (facts.length) caption.appendChild(el("div", "mjw-compare-size", facts.join(" · ")));
      column.append(head, picture, caption);
      row.appendChild(column);
    });
    root.appendChild(row);
    const frames = Array.from(row.querySelectorAll(".mjw-compare-clip"));
    if (frames.length > 1) {
      const both = el("button", "mjw-compare-play", "▶ Play side by side");
      both.type = "button";
      both.title = "Play every clip from its first frame, together";
      both.addEventListener("click", () => playClips(frames, true), { signal });
      root.insertBefore(both, row);
    }

    const params = model.get("params") || [];
    const table = el("table", "mjw-compare-params");
    const thead = el("thead");
    const headRow = el("tr");
    headRow.appendChild(el("th", null, "parameter"));
    items.forEach((_, i) => headRow.appendChild(el("th", null, String.fromCharCode(65 + (i % 26)))));
    thead.appendChild(headRow);
    const tbody = el("tbody");
    for (const p of params) {
      const tr = el("tr");
      tr.dataset.param = p.name;
      tr.appendChild(el("th", "mjw-compare-param", `--${p.name}`));
      (p.values || []).forEach((v, i) => {
        const td = el("td", v === null ? "mjw-compare-absent" : "", v === null ? "—" : v);
        if (i > 0 && v !== p.values[0]) td.classList.add("mjw-compare-changed");
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    }
    table.append(thead, tbody);
    if (params.length) {
      root.appendChild(el("div", "mjw-compare-subtitle", "Parameters that differ"));
      root.appendChild(table);
    } else {
      root.appendChild(el("div", "mjw-compare-note", "Same parameters in every prompt."));
    }
  }

  for (const name of ["items", "params", "image_width", "title"]) {
    model.on(`change:${name}`, update);
  }
  update();
}

export default { render };
