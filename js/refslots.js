// mjwidgets Studio: the reference slots under the prompt box (image prompt, --sref, --oref,
// --cref). A file dropped on a slot, picked with its file input, or pasted into the prompt goes
// to the kernel as one binary buffer; the kernel checks it (mjwidgets/media.py) and answers with
// a small thumbnail in the `references` trait. The prompt the server will receive comes from
// the kernel too (`planned_prompt`), as does why this server cannot take a slot's image.

const REF_SLOTS = [
  ["images", "Image", "Image prompt: the picture leads the prompt (--iw in the prompt sets its weight)"],
  ["sref", "Style", "Style reference (--sref): its look and palette; --sw 0-1000 in the prompt sets the weight"],
  ["oref", "Omni", "Omni reference (--oref, one image): put this subject in; --ow sets the weight"],
  ["cref", "Character", "Character reference (--cref): keep this character; --cw 0-100 sets the weight"],
];
const REF_MAX_BYTES = 30000000;

function referenceSlots(model, signal, send) {
  const box = el("div", "mjw-refs");
  const shelves = new Map();
  const note = el("div", "mjw-refs-note");
  note.setAttribute("role", "alert");
  note.hidden = true;

  async function addFiles(slot, files) {
    note.hidden = true;
    for (const file of Array.from(files || [])) {
      if (file.size > REF_MAX_BYTES) {
        note.textContent = `Not added: ${file.name} is ${Math.round(file.size / 1e6)} MB, over 30 MB`;
        note.hidden = false;
        continue;
      }
      const buffer = await file.arrayBuffer();
      send({ type: "ref_add", slot, name: file.name || "pasted image" }, [buffer]);
    }
  }

  for (const [slot, label, tip] of REF_SLOTS) {
    const cell = el("div", "mjw-ref-slot");
    cell.dataset.slot = slot;
    cell.title = `${tip}. Drop an image here, or click + to pick one.`;
    const pick = el("label", "mjw-ref-add");
    const input = el("input", "mjw-ref-input");
    input.type = "file";
    input.accept = "image/*";
    input.multiple = slot !== "oref";
    input.dataset.slot = slot;
    input.setAttribute("aria-label", `Add a ${label.toLowerCase()} reference image`);
    pick.append(el("span", "mjw-ref-plus", "+"), el("span", "mjw-ref-name", label), input);
    const shelf = el("span", "mjw-ref-thumbs");
    cell.append(pick, shelf);
    input.addEventListener("change", () => {
      const files = Array.from(input.files || []);
      input.value = "";
      addFiles(slot, files);
    }, { signal });
    cell.addEventListener("dragover", (event) => {
      event.preventDefault();
      cell.classList.add("mjw-drop");
    }, { signal });
    cell.addEventListener("dragleave", () => cell.classList.remove("mjw-drop"), { signal });
    cell.addEventListener("drop", (event) => {
      event.preventDefault();
      event.stopPropagation();
      cell.classList.remove("mjw-drop");
      addFiles(slot, event.dataTransfer ? event.dataTransfer.files : []);
    }, { signal });
    shelves.set(slot, shelf);
    box.appendChild(cell);
  }

  const planned = el("div", "mjw-planned");
  const plannedText = el("code", "mjw-planned-text");
  planned.append(el("span", "mjw-planned-label", "The server will receive"), plannedText);
  const problem = el("div", "mjw-refs-problem");
  problem.setAttribute("role", "alert");

  function update() {
    const items = model.get("references") || [];
    for (const shelf of shelves.values()) shelf.replaceChildren();
    for (const item of items) {
      const shelf = shelves.get(item.slot);
      if (!shelf) continue;
      const chip = el("span", "mjw-ref");
      chip.dataset.refId = item.id;
      chip.title = item.label || "";
      if (item.thumb) {
        const img = el("img", "mjw-ref-thumb");
        img.src = item.thumb;
        img.alt = item.label || "reference";
        chip.appendChild(img);
      } else {
        chip.appendChild(el("span", "mjw-ref-link", item.label || "URL"));
      }
      const remove = el("button", "mjw-ref-remove", "×");
      remove.type = "button";
      remove.title = "Remove this reference";
      remove.setAttribute("aria-label", `Remove ${item.label || "reference"}`);
      remove.addEventListener("click", () => send({ type: "ref_remove", id: item.id }), { signal });
      chip.appendChild(remove);
      shelf.appendChild(chip);
    }
    box.classList.toggle("mjw-refs-used", items.length > 0);
    const text = model.get("planned_prompt") || "";
    plannedText.textContent = text;
    planned.hidden = !text;
    problem.textContent = model.get("references_problem") || "";
    problem.hidden = !problem.textContent;
  }

  for (const name of ["references", "planned_prompt", "references_problem"]) {
    model.on(`change:${name}`, update);
  }
  update();
  return { nodes: [box, note, planned, problem], addFiles };
}

// The image tools beside the slots: Describe (drop or pick an image), Blend (the image-prompt
// slot's 2-5 images), Shorten (the prompt in the box) and Edit (the editor on a dropped or
// picked image). Each is one message; the kernel answers with a card, or says why not.
const BLEND_SHAPES = [["SQUARE", "Square 1:1"], ["PORTRAIT", "Portrait 2:3"],
  ["LANDSCAPE", "Landscape 3:2"]];

function imageTools(model, signal, send, promptText) {
  const bar = el("div", "mjw-tools");
  async function sendFile(tool, files) {
    const file = Array.from(files || [])[0];
    if (!file) return;
    if (file.size > REF_MAX_BYTES) {
      model.set("error", `Not sent: ${file.name} is over 30 MB`);
      return;
    }
    send({ type: tool, name: file.name || "image" }, [await file.arrayBuffer()]);
  }
  function fileTool(tool, label, tip) {
    const pick = el("label", `mjw-tool mjw-${tool.replace("_", "-")}`);
    pick.title = tip;
    const input = el("input", "mjw-ref-input");
    input.type = "file";
    input.accept = "image/*";
    input.dataset.tool = tool;
    input.setAttribute("aria-label", tip);
    pick.append(el("span", null, label), input);
    input.addEventListener("change", () => {
      const files = Array.from(input.files || []);
      input.value = "";
      sendFile(tool, files);
    }, { signal });
    pick.addEventListener("dragover", (event) => event.preventDefault(), { signal });
    pick.addEventListener("drop", (event) => {
      event.preventDefault();
      event.stopPropagation();
      sendFile(tool, event.dataTransfer ? event.dataTransfer.files : []);
    }, { signal });
    return pick;
  }
  const describe = fileTool("tool_describe", "Describe…",
    "Drop or pick an image: Midjourney proposes four prompts for it");
  const blend = el("button", "mjw-tool mjw-tool-blend", "Blend");
  blend.type = "button";
  const shape = el("select", "mjw-blend-shape");
  shape.setAttribute("aria-label", "Shape of the blend");
  for (const [value, label] of BLEND_SHAPES) {
    const option = el("option", null, label);
    option.value = value;
    shape.appendChild(option);
  }
  blend.addEventListener("click", (event) => {
    if (!repeatClick(event)) send({ type: "tool_blend", dimensions: shape.value });
  }, { signal });
  const shorten = el("button", "mjw-tool mjw-tool-shorten", "Shorten");
  shorten.type = "button";
  shorten.title = "Propose shorter versions of the prompt in the box";
  shorten.addEventListener("click", (event) => {
    if (!repeatClick(event)) send({ type: "tool_shorten", prompt: promptText() });
  }, { signal });
  const edit = fileTool("tool_edit", "Edit an image…",
    "Drop or pick an image: the editor opens on it (repaint a region, or retexture it)");
  bar.append(describe, blend, shape, shorten, edit);

  function update() {
    const images = (model.get("references") || []).filter((r) => r.slot === "images").length;
    blend.disabled = images < 2 || images > 5;
    blend.title = blend.disabled
      ? `Blend takes 2 to 5 images: put them in the Image slot (${images} there now)`
      : `Blend the ${images} images of the Image slot into one grid`;
  }
  model.on("change:references", update);
  update();
  return bar;
}
