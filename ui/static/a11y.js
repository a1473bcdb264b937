// Accessibility mends for what Gradio renders (ui.look.head_script puts this in every page's head).
// Each one is idempotent and re-applied whenever Gradio re-renders (a MutationObserver, once a frame):
// - live regions: role="status" on the components given ui.look.STATUS, role="alert" on ui.look.ALERT;
// - the chat's own log is not live: it would read a streamed answer piece by piece, and #announce
//   reads the finished one once;
// - a radio fieldset is one group: Gradio names each option's radio alone ("radio-4", "radio-5"...),
//   which makes every option its own group, a Tab stop each, with no arrow keys;
// - the page is shown once Gradio has laid it out, so nothing shifts after load;
// - a file drop zone is named by its field's label and the text it shows (Gradio names each one
//   "Click to upload or drop files").
(() => {
  let serial = 0;
  const idOf = (el) => el.id || (el.id = `mkb-a11y-${++serial}`);
  const set = (el, name, value) => { if (el.getAttribute(name) !== value) el.setAttribute(name, value); };

  function mend() {
    document.querySelectorAll(".block.mkb-status").forEach((el) => set(el, "role", "status"));
    document.querySelectorAll(".block.mkb-alert").forEach((el) => set(el, "role", "alert"));
    const panel = document.getElementById("source-panel");
    if (panel) { set(panel, "role", "region"); set(panel, "aria-label", "Source passage"); set(panel, "aria-live", "polite"); }
    document.querySelectorAll("#chat [role=log]").forEach((log) => set(log, "aria-live", "off"));
    document.querySelectorAll("fieldset").forEach((group) => {
      const radios = group.querySelectorAll("input[type=radio]");
      if (!radios.length) return;
      set(group, "role", "radiogroup");
      const title = group.querySelector("[data-testid=block-info]");
      if (title) set(group, "aria-labelledby", idOf(title));
      const name = `mkb-${idOf(group)}`;
      radios.forEach((radio) => set(radio, "name", name));
    });
    document.querySelectorAll("button.upload-container").forEach((zone) => {
      const block = zone.closest(".block");
      const label = block && block.querySelector("[data-testid=block-label]");
      const shown = zone.querySelector("[data-testid=upload-text]");
      if (!label || !shown) return;
      zone.removeAttribute("aria-label");
      set(zone, "aria-labelledby", `${idOf(label)} ${idOf(shown)}`);
    });
  }

  // Gradio mounts a page's components over several frames, and each one pushed those below it down
  // (a layout shift of 0.2-0.3 on a phone). The page is shown once its components have stopped
  // arriving for QUIET ms (CSS hides it until <html> has the class "mkb-ready"), or after LATEST ms.
  const QUIET = 150, LATEST = 4000;
  let settle = null;
  // A hidden page cannot take focus, so the field marked autofocus gets it once shown.
  const ready = () => {
    if (document.documentElement.classList.contains("mkb-ready")) return;
    document.documentElement.classList.add("mkb-ready");
    const first = document.querySelector("[autofocus]");
    if (first && document.activeElement === document.body) first.focus();
  };
  setTimeout(ready, LATEST);

  let queued = false;
  const schedule = () => {
    if (!document.documentElement.classList.contains("mkb-ready") && document.querySelector(".gradio-container .block")) {
      clearTimeout(settle);
      settle = setTimeout(ready, QUIET);
    }
    if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; mend(); }); }
  };
  const start = () => { mend(); new MutationObserver(schedule).observe(document.body, { childList: true, subtree: true }); };
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
