// mjwidgets Studio drop offer: a PNG, JPEG or MP4 dropped on the Studio that carries an
// mjwidgets record offers to go on from it ("Continue from it", "Make it again here").
// Only such files are taken: a drop another handler took (a reference slot) is left alone,
// and the file is searched for the record's mark before anything goes to the kernel.
// Joined after common.js (el).

const DROP_TYPES = new Set(["image/png", "image/jpeg", "video/mp4"]);
const MARK = new TextEncoder().encode("mjwidgets");

function droppedFile(event) {
  const files = event.dataTransfer ? [...event.dataTransfer.files] : [];
  return files.find((file) => DROP_TYPES.has(file.type)
    || /\.(png|jpe?g|mp4)$/i.test(file.name)) || null;
}

function carriesMark(bytes) {
  // the record's keyword (PNG iTXt), creator tool (XMP) or generator (the JSON record)
  const first = MARK[0];
  outer: for (let i = bytes.indexOf(first); i >= 0 && i <= bytes.length - MARK.length;
    i = bytes.indexOf(first, i + 1)) {
    for (let j = 1; j < MARK.length; j += 1) {
      if (bytes[i + j] !== MARK[j]) continue outer;
    }
    return true;
  }
  return false;
}

function render({ model, el: host, signal }) {
  const root = el("div", "mjw-drop-offer");
  root.setAttribute("role", "status");
  host.appendChild(root);

  function show() {
    root.replaceChildren();
    const offer = model.get("offer") || {};
    const note = model.get("note") || "";
    const error = model.get("error") || "";
    root.hidden = !offer.id && !note && !error;
    if (offer.id) {
      const head = el("div", "mjw-drop-head");
      head.append(el("span", "mjw-drop-file", offer.file || "a picture"),
        el("span", null, ` was made by ${(offer.action || "task").toLowerCase()} #${offer.id}`));
      const prompt = el("div", "mjw-drop-prompt", offer.prompt || "");
      const actions = el("div", "mjw-drop-actions");
      const go = el("button", "mjw-drop-continue", "Continue from it");
      go.type = "button";
      go.disabled = !offer.same_server;
      go.title = offer.same_server
        ? "Show its card with its buttons: the server still knows this task"
        : "It was made on another server: make it again here instead";
      const again = el("button", "mjw-drop-replay", "Make it again here");
      again.type = "button";
      again.title = `Replay its lineage on this Studio's server: ${offer.estimate || ""}`;
      const close = el("button", "mjw-drop-dismiss", "Dismiss");
      close.type = "button";
      go.addEventListener("click", () => model.send({ type: "continue" }), { signal });
      again.addEventListener("click", (event) => {
        if (!repeatClick(event)) model.send({ type: "replay" }); // a double click is one replay
      }, { signal });
      close.addEventListener("click", () => model.send({ type: "dismiss" }), { signal });
      actions.append(go, again, close, el("span", "mjw-drop-estimate", offer.estimate || ""));
      root.append(head, prompt, actions);
    }
    if (note) root.appendChild(el("div", "mjw-drop-note", note));
    if (error) root.appendChild(el("div", "mjw-drop-error", error));
  }

  function localNote(text) {
    model.set("note", text);
    model.set("offer", {});
    show();
  }

  async function onDrop(event) {
    if (event.defaultPrevented) return; // another handler (a reference slot) took it
    const file = droppedFile(event);
    if (!file) return;
    event.preventDefault(); // the browser would open the file instead
    if (file.size > model.get("max_bytes")) {
      localNote(`${file.name} is too big to read here`);
      return;
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (!carriesMark(bytes)) {
      localNote(`${file.name} carries no mjwidgets record: only pictures saved or exported `
        + "by mjwidgets can be continued from");
      return;
    }
    model.set("note", ""); // a local note of an earlier drop (the kernel's is already empty)
    show();
    model.send({ type: "file", name: file.name }, undefined, [bytes.buffer]);
  }

  function onDragOver(event) {
    const types = event.dataTransfer ? [...event.dataTransfer.types] : [];
    if (!event.defaultPrevented && types.includes("Files")) event.preventDefault();
  }

  // the listeners sit on the Studio around this view (found once the view is on the page)
  let frames = 0;
  const attach = () => {
    if (signal.aborted) return;
    const studio = host.isConnected ? host.closest(".mjw-studio") : null;
    if (!studio) {
      if (frames++ < 600) requestAnimationFrame(attach);
      return;
    }
    studio.addEventListener("dragover", onDragOver, { signal });
    studio.addEventListener("drop", onDrop, { signal });
    root.dataset.ready = "true";
  };
  attach();

  for (const name of ["offer", "note", "error"]) model.on(`change:${name}`, show);
  show();
}

export default { render };
