// mjwidgets gallery inputs: "Blend N" (2–5 ticked, with a shape) and, when the gallery is
// attached to a Studio, "Use as ▸" image prompt / style / omni / character reference. The kernel
// does the work (galleryinputs.py); a button stays disabled from its click until the kernel's
// `inputs_done`, so one click is one submit. Joined after common.js (el), before historyview.js.

const BLEND_SHAPES = [["SQUARE", "square"], ["PORTRAIT", "portrait"], ["LANDSCAPE", "landscape"]];
const USE_AS = [["images", "Image prompt"], ["sref", "Style reference"],
  ["oref", "Omni reference"], ["cref", "Character reference"]];

// Returns {row, update(n), done()}: the controls, redrawn for n ticked results.
function galleryInputs(model, signal) {
  const row = el("span", "mjw-history-inputs");
  const shape = el("select", "mjw-history-blend-shape");
  shape.setAttribute("aria-label", "Blend shape");
  for (const [value, text] of BLEND_SHAPES) {
    const option = el("option", null, text);
    option.value = value;
    shape.appendChild(option);
  }
  const blend = el("button", "mjw-history-blend", "Blend");
  blend.title = "Blend the ticked results (2 to 5) into one new grid";
  const useAs = el("button", "mjw-history-use-as", "Use as ▸");
  useAs.title = "Put the ticked results into the Studio's reference slots";
  useAs.setAttribute("aria-expanded", "false");
  const menu = el("span", "mjw-history-use-menu");
  menu.hidden = true;
  for (const [slot, text] of USE_AS) {
    const item = el("button", "mjw-history-use-slot", text);
    item.dataset.slot = slot;
    item.addEventListener("click", () => send({ type: "use_as", slot }), { signal });
    menu.appendChild(item);
  }
  row.append(shape, blend, useAs, menu);

  let busy = false;
  let blending = false;
  let count = 0;
  function send(content) {
    busy = true;
    blending = content.type === "blend_ticked";
    menu.hidden = true;
    useAs.setAttribute("aria-expanded", "false");
    update(count);
    model.send(content);
  }
  blend.addEventListener("click", (event) => {
    if (!repeatClick(event)) send({ type: "blend_ticked", dimensions: shape.value });
  }, { signal });
  useAs.addEventListener("click", () => {
    menu.hidden = !menu.hidden;
    useAs.setAttribute("aria-expanded", String(!menu.hidden));
  }, { signal });

  function update(n) {
    count = n;
    const studio = Boolean(model.get("has_studio"));
    const blendable = n >= 2 && n <= 5;
    blend.hidden = n === 0;
    shape.hidden = n === 0;
    blend.disabled = busy || !blendable;
    blend.textContent = blending ? "Blending…" : (n ? `Blend ${n}` : "Blend");
    blend.title = blendable ? "Blend the ticked results into one new grid"
      : "Blend takes 2 to 5 ticked results";
    useAs.hidden = n === 0 || !studio;
    useAs.disabled = busy;
    if (useAs.hidden) menu.hidden = true;
    for (const item of menu.children) {
      item.disabled = busy || (item.dataset.slot === "oref" && n > 1);
    }
  }
  function done() {
    busy = false;
    blending = false;
    update(count);
  }
  return { row, update, done };
}
