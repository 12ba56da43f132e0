// Every instance's module (plumbing.front_end): it imports its widget's real module once per
// page, by the digest of its text (two kernels of two mjwidgets versions in one JupyterLab each
// get their own), from the ModuleSource model the widget names in `_source_model`. A load that
// failed is tried again by the next instance.
const KEY = "mjw-module-DIGEST";
const loads = (globalThis.__mjwModules ??= new Map());

function load(model) {
  let loading = loads.get(KEY);
  if (!loading) {
    loading = model.widget_manager.get_model(model.get("_source_model")).then((holder) => {
      const text = new Blob([holder.get("source")], { type: "text/javascript" });
      const url = URL.createObjectURL(text);
      return import(url).finally(() => URL.revokeObjectURL(url));
    });
    loads.set(KEY, loading);
    loading.catch(() => loads.delete(KEY));
  }
  return loading;
}

// anywidget keeps a closed view's element reachable (its model's state_change promise holds the
// view), so the view empties it when it goes: a closed Studio would otherwise keep ~110 nodes
// and a decoded picture per card for the page's lifetime (tests/browser/test_studio_memory.py).
async function render(context) {
  const module = await load(context.model);
  context.signal?.addEventListener("abort", () => context.el.replaceChildren(), { once: true });
  return module.default.render(context);
}

export default { render };
