// Injected by `pipeline watch` into the pages it serves (never into the
// files on disk). It asks the server for the build state twice a second:
// a newer good build reloads the page; a failed build shows its error over
// the page until the next good build.
(function () {
  "use strict";
  var script = document.currentScript;
  var shown = Number(script.getAttribute("data-build"));
  var overlay = null;
  var badge = null;

  function box(id, css) {
    var el = document.createElement("div");
    el.id = id;
    el.setAttribute("style", css);
    document.body.appendChild(el);
    return el;
  }

  function showError(state) {
    if (!overlay) {
      overlay = box("pipeline-watch-error",
        "position:fixed;inset:0;z-index:2147483647;overflow:auto;background:rgba(32,33,36,.97);" +
        "color:#fff;font:14px/1.5 ui-monospace,Menlo,Consolas,monospace;padding:2rem;");
      overlay.setAttribute("role", "alert");
    }
    overlay.textContent = "";
    var head = document.createElement("p");
    head.setAttribute("style", "font:600 18px/1.3 system-ui,sans-serif;color:#f28b82;margin:0 0 1rem");
    head.textContent = "Build " + state.build + " failed. The page shows the last good build (" + state.good +
      "); fix the source and save to try again.";
    var pre = document.createElement("pre");
    pre.setAttribute("style", "white-space:pre-wrap;margin:0");
    pre.textContent = state.error;
    overlay.appendChild(head);
    overlay.appendChild(pre);
  }

  function hideError() {
    if (overlay) { overlay.remove(); overlay = null; }
  }

  function showBusy(busy) {
    if (busy && !badge) {
      badge = box("pipeline-watch-busy",
        "position:fixed;right:1rem;bottom:1rem;z-index:2147483647;background:#202124;color:#fff;" +
        "font:13px/1 system-ui,sans-serif;padding:.6rem .8rem;border-radius:4px;opacity:.85");
      badge.textContent = "rebuilding…";
    } else if (!busy && badge) {
      badge.remove();
      badge = null;
    }
  }

  function poll() {
    fetch("/__watch/state", {cache: "no-store"})
      .then(function (response) { return response.json(); })
      .then(function (state) {
        if (state.good !== shown) { location.reload(); return; }  // newer good output
        showBusy(state.building);
        if (!state.ok && state.error) { showError(state); } else { hideError(); }
        setTimeout(poll, 500);
      })
      .catch(function () { setTimeout(poll, 2000); });  // the server is gone or restarting
  }
  poll();
})();
