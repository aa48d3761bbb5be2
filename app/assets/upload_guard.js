// Streamlit's uploader refuses a file over the server's limit in the browser, with only a red
// chip whose reason is a hover tooltip; the app's script never hears of it. This says so in the
// page and hides the earlier result while the refused file is shown, so the old result cannot
// pass for the new file's. Loaded by app/widgets.py, which fills in %(limit)s and %(anchor)s
// (the app's own constants, never user data); the refused file's name is set as text only.
(() => {
  const limit = "%(limit)s";
  if (window.dermascanUploadGuard) { window.dermascanUploadGuard.limit = limit; return; }
  const guard = window.dermascanUploadGuard = {limit};
  const update = () => {
    const uploader = document.querySelector('[data-testid="stFileUploader"]');
    const refused = uploader ? [...uploader.querySelectorAll('[data-testid="stFileChip"]')]
      .filter(chip => chip.getAttribute("aria-invalid") === "true") : [];
    let notice = document.getElementById("dermascan-upload-refused");
    const anchor = document.getElementById("%(anchor)s");
    const result = anchor ? anchor.closest('[data-testid="stVerticalBlock"]') : null;
    if (refused.length && uploader) {
      if (!notice) {
        notice = document.createElement("div");
        notice.id = "dermascan-upload-refused";
        notice.setAttribute("role", "alert");
        notice.style.cssText = "margin:0.5rem 0;padding:0.75rem 1rem;border-radius:0.5rem;" +
          "background:#fdecea;color:#7f1d1d;border:1px solid #f5c2c0";
        uploader.after(notice);
      }
      const names = refused.map(
        chip => chip.querySelector('[data-testid="stFileChipName"]')?.textContent || "the file");
      const text = names.join(", ") + " was not uploaded: a file must be a JPEG, PNG " +
        "or WebP of at most " + guard.limit + ". Nothing was stored. Remove it (x) and " +
        "choose another file; the earlier result is hidden meanwhile.";
      // Only a change is written: the observer sees its own writes, and must settle.
      if (notice.textContent !== text) notice.textContent = text;
      if (result && result.dataset.dermascanHidden !== "1") {
        result.dataset.dermascanHidden = "1";
        result.style.display = "none";
      }
    } else {
      if (notice) notice.remove();
      document.querySelectorAll('[data-dermascan-hidden="1"]').forEach(el => {
        el.style.display = ""; delete el.dataset.dermascanHidden;
      });
    }
  };
  new MutationObserver(update).observe(document.body, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["aria-invalid"]});
  update();
})();
