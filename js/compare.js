// mjwidgets Compare: images side by side at one display width, each prompt diffed against the
// first one (<ins>/<del> built with textContent), and a table of the parameters that differ.
// Every server-provided string is inserted with textContent, never as HTML.

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

const DIFF = {
  same: ["span", "mjw-diff-same"],
  added: ["ins", "mjw-diff-added"],
  removed: ["del", "mjw-diff-removed"],
};

function render({ model, el: host, signal }) {
  const root = el("div", "mjw-compare-view");
  host.appendChild(root);
  let urls = [];
  signal.addEventListener("abort", () => urls.forEach((u) => URL.revokeObjectURL(u)));

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
      const caption = el("figcaption", "mjw-compare-caption");
      caption.appendChild(diffLine(item.diff || []));
      if (size.length === 2) caption.appendChild(el("div", "mjw-compare-size", `${size[0]}×${size[1]}`));
      column.append(head, img, caption);
      row.appendChild(column);
    });
    root.appendChild(row);

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
