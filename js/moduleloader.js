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

async function render(context) {
  const module = await load(context.model);
  return module.default.render(context);
}

export default { render };
