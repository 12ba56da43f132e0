// mjwidgets lightbox: one image (or a video card's clip, playing) at full size over the page, with previous/next (arrow keys
// too), its own download, copy prompt, copy seed and its U/V buttons; Escape closes.
// One overlay serves every card on the page: each card's module fills it for its own image and,
// for the next or previous image of another card, asks that card (a DOM event on its root) to
// take over. Joined after common.js and before taskview.js (widgets/plumbing.py: front_end).

const LIGHTBOX_EVENT = "mjw-lightbox-open";

function lightboxOverlay() {
  let overlay = document.querySelector("body > .mjw-lightbox");
  if (overlay) return overlay;
  overlay = el("div", "mjw-lightbox");
  overlay.setAttribute("role", "dialog");
  overlay.setAttribute("aria-modal", "true");
  overlay.setAttribute("aria-label", "Image viewer");
  overlay.tabIndex = -1;
  overlay.hidden = true;
  const stage = el("div", "mjw-lb-stage");
  const img = el("img", "mjw-lb-image");
  img.alt = "";
  const video = el("video", "mjw-lb-video");
  video.controls = true;
  video.loop = true;
  video.muted = true;
  video.playsInline = true;
  video.hidden = true;
  const loading = el("div", "mjw-lb-loading", "loading the full-size image…");
  const prev = el("button", "mjw-lb-prev", "‹");
  prev.title = "Previous image (←)";
  const next = el("button", "mjw-lb-next", "›");
  next.title = "Next image (→)";
  stage.append(img, video, loading, prev, next);
  const side = el("div", "mjw-lb-side");
  const close = el("button", "mjw-lb-close", "×");
  close.title = "Close (Esc)";
  const title = el("div", "mjw-lb-title");
  const size = el("div", "mjw-lb-size");
  const prompt = el("div", "mjw-lb-prompt");
  const actions = el("div", "mjw-lb-actions");
  const seed = el("div", "mjw-lb-seed");
  const message = el("div", "mjw-lb-message");
  message.setAttribute("role", "status");
  const keys = el("div", "mjw-lb-keys", "← → previous / next · Esc closes");
  side.append(close, title, size, prompt, actions, seed, message, keys);
  overlay.append(stage, side);
  document.body.appendChild(overlay);
  overlay.parts = { stage, img, video, loading, prev, next, close, title, size, prompt, actions,
    seed, message };
  return overlay;
}

// Every card root on the page that has an image, in the order a person reads the page.
function lightboxCards() {
  const roots = Array.from(document.querySelectorAll(
    ".mjw-task[data-has-image='true'], .mjw-task[data-clips]"));
  const placed = roots.map((root) => ({ root, box: root.getBoundingClientRect() }))
    .filter(({ box }) => box.width > 0);
  placed.sort((a, b) => (Math.abs(a.box.top - b.box.top) > 4 ? a.box.top - b.box.top
    : a.box.left - b.box.left));
  return placed.map(({ root }) => root);
}

function lightboxClose() {
  const overlay = document.querySelector("body > .mjw-lightbox");
  if (!overlay || overlay.hidden) return;
  overlay.hidden = true;
  if (overlay.binding) overlay.binding.abort();
  overlay.binding = null;
  const opener = overlay.opener;
  overlay.owner = null;
  overlay.opener = null;
  if (overlay.imageUrl) URL.revokeObjectURL(overlay.imageUrl);
  overlay.imageUrl = null;
  overlay.parts.img.removeAttribute("src");
  lightboxStopVideo(overlay.parts);
  if (opener && opener.isConnected) opener.focus({ preventScroll: true });
}

// Fill the overlay for one card's image. spec: {owner (the card root), index, count, title,
// prompt, sizeText, placeholder (URL or null), actions: [{label, title, className, run}],
// onSeed (or null), onLeave}. Returns the binding's signal (aborted when another image shows).
function lightboxShow(spec) {
  const overlay = lightboxOverlay();
  if (overlay.binding) overlay.binding.abort();
  const binding = new AbortController();
  overlay.binding = binding;
  const signal = binding.signal;
  const p = overlay.parts;
  if (overlay.hidden) overlay.opener = document.activeElement;
  overlay.owner = spec.owner;
  overlay.dataset.taskId = spec.owner.dataset.taskId || "";
  overlay.dataset.index = String(spec.index);
  overlay.dataset.state = "loading";
  const noun = spec.noun || "Image";
  p.title.textContent = spec.count > 1 ? `${noun} ${spec.index} of ${spec.count}` : noun;
  lightboxStopVideo(p);
  p.img.hidden = false;
  p.loading.textContent = spec.loadingText || "loading the full-size image…";
  p.title.appendChild(el("span", "mjw-lb-id", ` · #${spec.owner.dataset.taskId || ""}`));
  p.size.textContent = spec.sizeText || "";
  p.prompt.textContent = spec.prompt || "";
  p.seed.replaceChildren();
  p.message.textContent = "";
  p.loading.hidden = false;
  if (overlay.imageUrl) URL.revokeObjectURL(overlay.imageUrl);
  overlay.imageUrl = null;
  if (spec.placeholder) {
    p.img.src = spec.placeholder;
    p.img.classList.add("mjw-lb-placeholder");
  } else {
    p.img.removeAttribute("src");
  }
  p.actions.replaceChildren();
  for (const action of spec.actions) {
    const button = el("button", `mjw-lb-action ${action.className || ""}`.trim(), action.label);
    button.title = action.title || action.label;
    if (action.disabled) button.disabled = true;
    button.addEventListener("click", (event) => {
      if (!repeatClick(event)) action.run(button); // Upscale / Vary here: a double click, one job
    }, { signal });
    p.actions.appendChild(button);
  }
  const cards = lightboxCards();
  const here = cards.indexOf(spec.owner);
  const hasPrev = spec.index > 1 || here > 0;
  const hasNext = spec.index < spec.count || (here >= 0 && here < cards.length - 1);
  p.prev.disabled = !hasPrev;
  p.next.disabled = !hasNext;
  const go = (direction) => {
    const target = spec.index + direction;
    if (target >= 1 && target <= spec.count) {
      spec.owner.dispatchEvent(new CustomEvent(LIGHTBOX_EVENT, { detail: { index: target } }));
      return;
    }
    const list = lightboxCards();
    const neighbour = list[list.indexOf(spec.owner) + direction];
    if (neighbour) {
      neighbour.dispatchEvent(new CustomEvent(LIGHTBOX_EVENT,
        { detail: { index: direction > 0 ? 1 : "last" } }));
    }
  };
  p.prev.addEventListener("click", () => go(-1), { signal });
  p.next.addEventListener("click", () => go(1), { signal });
  p.close.addEventListener("click", lightboxClose, { signal });
  overlay.addEventListener("click", (event) => {
    if (event.target === overlay || event.target === p.stage) lightboxClose();
  }, { signal });
  overlay.addEventListener("keydown", (event) => {
    event.stopPropagation(); // keep JupyterLab's shortcuts out while the viewer is open
    if (event.key === "Escape") {
      event.preventDefault();
      lightboxClose();
    } else if (event.key === "ArrowLeft" && !p.prev.disabled) {
      event.preventDefault();
      go(-1);
    } else if (event.key === "ArrowRight" && !p.next.disabled) {
      event.preventDefault();
      go(1);
    }
  }, { signal });
  overlay.hidden = false;
  if (!overlay.contains(document.activeElement)) overlay.focus({ preventScroll: true });
  return signal;
}

// The full-size bytes arrived: show them if the overlay still shows that image.
function lightboxSetImage(owner, index, blob, width, height, source) {
  const overlay = document.querySelector("body > .mjw-lightbox");
  if (!overlay || overlay.hidden || overlay.owner !== owner
    || overlay.dataset.index !== String(index)) return false;
  const p = overlay.parts;
  if (overlay.imageUrl) URL.revokeObjectURL(overlay.imageUrl);
  overlay.imageUrl = URL.createObjectURL(blob);
  p.img.onload = () => {
    overlay.dataset.state = "full";
    overlay.dataset.naturalWidth = String(p.img.naturalWidth);
    overlay.dataset.naturalHeight = String(p.img.naturalHeight);
  };
  overlay.dataset.source = source || "";
  p.img.src = overlay.imageUrl;
  p.img.classList.remove("mjw-lb-placeholder");
  p.loading.hidden = true;
  if (width && height) p.size.textContent = `${width}×${height} px`;
  return true;
}

// A clip arrived (a Blob URL): play it in the overlay if it still shows that clip.
function lightboxSetVideo(owner, index, url, width, height) {
  const overlay = document.querySelector("body > .mjw-lightbox");
  if (!overlay || overlay.hidden || overlay.owner !== owner
    || overlay.dataset.index !== String(index)) return false;
  const p = overlay.parts;
  p.video.onloadeddata = () => {
    overlay.dataset.state = "full";
    p.img.hidden = true;
    p.video.hidden = false;
    p.loading.hidden = true;
  };
  overlay.dataset.source = "clip";
  p.video.src = url;
  p.video.play().catch(() => { /* the controls still let a person start it */ });
  if (width && height) p.size.textContent = `${width}×${height} px`;
  return true;
}

function lightboxStopVideo(p) {
  p.video.pause();
  p.video.onloadeddata = null;
  p.video.removeAttribute("src");
  p.video.load();
  p.video.hidden = true;
}

function lightboxMessage(owner, text) {
  const overlay = document.querySelector("body > .mjw-lightbox");
  if (!overlay || overlay.hidden || overlay.owner !== owner) return;
  overlay.parts.message.textContent = text;
  overlay.parts.loading.hidden = true;
}

function lightboxSeed(owner, seedText, error) {
  const overlay = document.querySelector("body > .mjw-lightbox");
  if (!overlay || overlay.hidden || overlay.owner !== owner) return;
  const p = overlay.parts;
  p.seed.replaceChildren();
  if (error) {
    p.seed.appendChild(el("span", "mjw-lb-seed-error", error));
    return;
  }
  const value = el("code", "mjw-lb-seed-value", seedText);
  const copy = el("button", "mjw-lb-action", "Copy");
  copy.title = "Copy the seed";
  copy.addEventListener("click", async () => {
    flashNote(p.seed, (await copyText(String(seedText))) ? "Copied" : "Copy failed");
  }, { signal: overlay.binding ? overlay.binding.signal : undefined });
  p.seed.append(el("span", null, "Seed "), value, copy);
}

// A crop of the card's display image: shown at once while the full-size image comes.
async function cropPlaceholder(img, index, count) {
  if (!img.complete || !img.naturalWidth) return null;
  if (count === 1) return img.src;
  const w = Math.floor(img.naturalWidth / 2);
  const h = Math.floor(img.naturalHeight / 2);
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const x = (index - 1) % 2 ? w : 0;
  const y = index > 2 ? h : 0;
  canvas.getContext("2d").drawImage(img, x, y, w, h, 0, 0, w, h);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
  return blob ? URL.createObjectURL(blob) : null;
}
