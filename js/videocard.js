// mjwidgets video card: the task card (taskview.js's render) with the task's clips in a grid.
// Posters first (the `clips` trait: a JPEG each); a clip's bytes are asked of the kernel when a
// person hovers or clicks it (one message buffer, kept as a Blob URL), then it plays muted and
// looping. ⤢ opens it in the full-size player (the lightbox), ⬇ saves it. Joined after
// common.js, lightbox.js and taskview.js (widgets/plumbing.py: front_end); this part exports.

function clipLength(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return `${Number(seconds).toFixed(seconds < 10 ? 1 : 0)} s`;
}

function saveBlobUrl(url, filename) {
  const a = el("a");
  a.href = url;
  a.download = filename;
  a.click();
}

function renderVideoCard(args) {
  render(args); // the card: header, progress, prompt, buttons, lineage, children
  const { model, el: host, signal } = args;
  const root = host.querySelector(".mjw-task");
  root.classList.add("mjw-video-card");
  const grid = el("div", "mjw-clips");
  grid.hidden = true;
  const note = el("div", "mjw-clips-note");
  note.setAttribute("role", "status");
  note.hidden = true;
  root.querySelector(".mjw-figure").after(grid, note);

  const posterUrls = [];
  const clipUrls = new Map(); // clip index → Blob URL of its bytes
  const waiting = new Map(); // clip index → [{resolve, reject}]
  signal.addEventListener("abort", () => {
    posterUrls.forEach((u) => URL.revokeObjectURL(u));
    clipUrls.forEach((u) => URL.revokeObjectURL(u));
  });

  let kernelState = "live";
  watchKernel(host, model, signal, (state) => { kernelState = state; });

  function say(text) {
    note.textContent = text || "";
    note.hidden = !text;
  }

  // The clip's bytes: from this view's Blob URLs, else asked of the kernel (once per clip).
  function clipUrl(index) {
    if (clipUrls.has(index)) return Promise.resolve(clipUrls.get(index));
    return new Promise((resolve, reject) => {
      const list = waiting.get(index) || [];
      list.push({ resolve, reject });
      waiting.set(index, list);
      if (list.length > 1) return;
      if (kernelState !== "live") {
        settle(index, null, offlineText(kernelState, "card"));
        return;
      }
      model.send({ type: "clip", index, mode: "play" });
    });
  }

  function settle(index, url, error) {
    const list = waiting.get(index) || [];
    waiting.delete(index);
    for (const w of list) {
      if (url) w.resolve(url);
      else w.reject(new Error(error || "the clip is not available"));
    }
  }

  function clipName(index) {
    const clips = model.get("clips") || [];
    const id = model.get("task_id") || "video";
    const suffix = clips.length > 1 ? `-${index + 1}` : "";
    const mime = (clips[index] && clips[index].mime) || "video/mp4";
    return `mj-${id}${suffix}.${mime === "video/webm" ? "webm" : "mp4"}`;
  }

  model.on("msg:custom", (msg, buffers) => {
    if (msg.type !== "clip") return;
    const cell = grid.querySelector(`.mjw-clip[data-index="${Number(msg.index)}"]`);
    if (msg.error) {
      if (cell) {
        cell.dataset.state = "error";
        cell.title = `Clip ${msg.index + 1} is not available: ${msg.error}`;
      }
      say(`Clip ${Number(msg.index) + 1} is not available: ${msg.error}`);
      lightboxMessage(root, `The clip is not available: ${msg.error}`);
      settle(msg.index, null, msg.error);
      return;
    }
    let url = clipUrls.get(msg.index);
    if (!url) {
      url = URL.createObjectURL(new Blob([buffers[0]], { type: msg.mime || "video/mp4" }));
      clipUrls.set(msg.index, url);
    }
    if (msg.mode === "download") saveBlobUrl(url, msg.filename || clipName(msg.index));
    settle(msg.index, url);
  });

  // ---- one clip: poster, then the clip playing over it ---------------------------------------
  const players = [];
  function makeCell(clip, count) {
    const index = clip.index;
    const cell = el("div", "mjw-clip");
    cell.dataset.index = String(index);
    cell.dataset.state = "poster";
    cell.tabIndex = 0;
    const [pw, ph] = clip.poster_size || [16, 9];
    cell.style.setProperty("--mjw-clip-aspect", `${pw} / ${ph}`);
    const [w, h] = clip.size || [];
    cell.title = `Clip ${index + 1}: hover to play, click to keep it playing`
      + (w && h ? ` · ${w}×${h} px` : "") + (clip.duration ? ` · ${clipLength(clip.duration)}` : "");
    cell.setAttribute("aria-label", `Clip ${index + 1} of ${count}`);
    const poster = el("img", "mjw-clip-poster");
    poster.alt = `Clip ${index + 1}, first frame`;
    const url = URL.createObjectURL(new Blob([clip.poster], { type: "image/jpeg" }));
    posterUrls.push(url);
    const posterLoaded = new Promise((resolve) => {
      poster.onload = resolve;
      poster.onerror = resolve;
    });
    poster.src = url;
    const video = el("video", "mjw-clip-video");
    video.muted = true;
    video.loop = true;
    video.playsInline = true;
    video.preload = "auto";
    const number = el("span", "mjw-clip-badge mjw-clip-number", String(index + 1));
    const length = el("span", "mjw-clip-badge mjw-clip-duration", clipLength(clip.duration));
    const state = el("span", "mjw-clip-badge mjw-clip-state", "▶");
    const tools = el("div", "mjw-clip-tools");
    const full = el("button", "mjw-clip-full", "⤢");
    full.type = "button";
    full.title = `Play clip ${index + 1} at full size`;
    const save = el("button", "mjw-clip-download", "⬇");
    save.type = "button";
    save.title = `Download clip ${index + 1} (mp4, as the server made it)`;
    tools.append(full, save);
    const offer = model.get("extend_offer") || "";
    if (offer) { // the server has no U for clips: Extend clip by clip (+4 s, high motion)
      const longer = el("button", "mjw-clip-extend", "+4 s");
      longer.type = "button";
      longer.title = offer;
      longer.dataset.press = extendKey(index);
      markPending(longer, extending().has(extendKey(index)));
      longer.addEventListener("click", (event) => {
        if (repeatClick(event)) return; // a double click is one job
        if (isPending(longer)) return; // its job is on its way: one click, one job
        if (kernelState !== "live") {
          say(offlineText(kernelState, "card"));
          return;
        }
        markPending(longer); // until the kernel has submitted it (or said why not)
        model.send({ type: "extend", index });
        say(`Extending clip ${index + 1}…`);
      }, { signal });
      tools.appendChild(longer);
    }
    cell.append(poster, video, length, state, tools);
    if (count > 1) cell.appendChild(number); // one clip needs no number

    let pinned = false; // clicked: keeps playing when the pointer leaves
    let wanted = false;
    async function play() {
      wanted = true;
      if (cell.dataset.state !== "playing") cell.dataset.state = "loading";
      state.textContent = "…";
      let src;
      try {
        src = await clipUrl(index);
      } catch (err) {
        cell.dataset.state = "error";
        state.textContent = "!";
        say(err.message);
        return;
      }
      if (!wanted) {
        cell.dataset.state = "poster";
        state.textContent = "▶";
        return;
      }
      if (video.getAttribute("src") !== src) video.src = src;
      try {
        await video.play();
        cell.dataset.state = "playing";
      } catch (_) {
        if (wanted) cell.dataset.state = "paused"; // interrupted by a pause: not an error
      }
      state.textContent = "▶";
    }
    function stop() {
      wanted = false;
      pinned = false;
      video.pause();
      cell.dataset.state = "paused";
    }
    cell.addEventListener("mouseenter", () => { if (!pinned) play(); }, { signal });
    cell.addEventListener("mouseleave", () => { if (!pinned) stop(); }, { signal });
    cell.addEventListener("click", (event) => {
      if (event.target.closest("button")) return;
      if (pinned) {
        stop();
      } else {
        pinned = true;
        play();
      }
    }, { signal });
    cell.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        event.stopPropagation();
        cell.click();
      }
    }, { signal });
    full.addEventListener("click", () => openPlayer(index), { signal });
    save.addEventListener("click", () => {
      if (clipUrls.has(index)) {
        saveBlobUrl(clipUrls.get(index), clipName(index));
      } else if (kernelState === "live") {
        model.send({ type: "clip", index, mode: "download" });
      } else {
        say(offlineText(kernelState, "card"));
      }
    }, { signal });
    players.push({ stop });
    return { cell, posterLoaded };
  }

  let shownKey = "";
  function showClips() {
    const clips = model.get("clips") || [];
    const key = `${model.get("task_id")}:${clips.length}`;
    if (key === shownKey) return;
    shownKey = key;
    players.splice(0).forEach((p) => p.stop());
    posterUrls.splice(0).forEach((u) => URL.revokeObjectURL(u));
    grid.replaceChildren();
    grid.hidden = clips.length === 0;
    grid.dataset.count = String(clips.length);
    if (clips.length) root.dataset.clips = String(clips.length);
    else delete root.dataset.clips;
    const loads = clips.map((clip) => {
      const { cell, posterLoaded } = makeCell(clip, clips.length);
      grid.appendChild(cell);
      return posterLoaded;
    });
    if (!clips.length) return;
    Promise.all(loads).then(() => {
      const id = model.get("task_id");
      root.dataset.posters = id;
      root.dataset.painted = id;
      try {
        performance.mark(`mjw-posters-${id}`);
      } catch (_) { /* marks are best effort */ }
    });
  }

  // ---- the full-size player (the lightbox, with a video) -------------------------------------
  function openPlayer(index) {
    const clips = model.get("clips") || [];
    if (!clips.length) return;
    if (index === "last") index = clips.length - 1;
    index = Math.max(0, Math.min(clips.length - 1, Number(index) || 0));
    const clip = clips[index];
    const text = model.get("prompt") || "";
    const [w, h] = clip.size || [];
    const actions = [
      { label: "⬇ Download", title: `Download clip ${index + 1} (mp4)`,
        className: "mjw-lb-download",
        run: () => grid.querySelector(`.mjw-clip[data-index="${index}"] .mjw-clip-download`)
          .click() },
      { label: "Copy prompt", title: "Copy the prompt", className: "mjw-lb-copy-prompt",
        run: async (button) => flashNote(button.parentElement,
          (await copyText(text)) ? "Prompt copied" : "Copy failed") },
    ];
    for (const b of model.get("tile_buttons") || []) {
      if (b.index !== index + 1 || b.kind !== "upsample") continue;
      const honest = (model.get("buttons") || []).find((x) => x.custom_id === b.custom_id) || {};
      actions.push({
        label: `Upscale (${b.label})`,
        title: honest.reason || honest.title || b.label,
        className: "mjw-lb-upscale",
        disabled: honest.enabled === false,
        run: () => {
          if (kernelState === "live") {
            model.send({ type: "click", custom_id: b.custom_id });
            lightboxClose();
          }
        },
      });
    }
    const poster = grid.querySelector(`.mjw-clip[data-index="${index}"] .mjw-clip-poster`);
    lightboxShow({
      owner: root, index: index + 1, count: clips.length, noun: "Clip", prompt: text,
      sizeText: [w && h ? `${w}×${h} px` : "", clipLength(clip.duration)].filter(Boolean)
        .join(" · "),
      loadingText: "loading the clip…", actions, placeholder: poster ? poster.src : null,
    });
    clipUrl(index).then((url) => lightboxSetVideo(root, index + 1, url),
      (err) => lightboxMessage(root, `The clip is not available: ${err.message}`));
  }
  root.addEventListener(LIGHTBOX_EVENT, (event) => {
    if (!root.dataset.clips) return; // no clips yet: taskview.js shows the image
    const asked = event.detail ? event.detail.index : 1;
    openPlayer(asked === "last" ? "last" : Number(asked) - 1);
  }, { signal });

  // "+4 s" of each clip: pending while the kernel submits it (`pending_buttons` holds
  // "extend-<index>", cardmodel.py), pressable again once the new card or the error is there
  function extendKey(index) {
    return `extend-${index}`;
  }
  function extending() {
    return new Set(model.get("pending_buttons") || []);
  }
  function showExtending() {
    const now = extending();
    for (const button of grid.querySelectorAll(".mjw-clip-extend")) {
      markPending(button, now.has(button.dataset.press));
    }
  }
  model.on("change:pending_buttons", showExtending);
  model.on("change:children", showExtending);
  model.on("change:error", showExtending);

  model.on("change:clips", showClips);
  model.on("change:extend_offer", () => { shownKey = ""; showClips(); });
  model.on("change:children", () => say("")); // the extended clip's card is there
  model.on("change:error", () => say("")); // the card's error line says what went wrong
  model.on("change:task_id", showClips);
  showClips();
}

export default { render: renderVideoCard };
