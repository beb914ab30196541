// Export page: poll the export's status and show progress and the download without a reload.
(function () {
  "use strict";
  var box = document.querySelector(".export-detail");
  if (!box || box.dataset.state !== "queued") return;
  var label = box.querySelector("[data-export-label]");
  var percent = box.querySelector("[data-export-percent]");
  var bar = box.querySelector(".export-progress");
  var download = box.querySelector("[data-export-download]");
  var delay = 1000;

  function show(data) {
    label.textContent = data.state_label;
    if (data.state === "queued") {
      if (percent) percent.textContent = data.progress + "%";
      if (bar) bar.value = data.progress;
      return false;
    }
    if (percent) percent.remove();
    if (bar) bar.remove();
    if (data.downloadable && download) {
      download.hidden = false;
      download.querySelector("a").focus();
    }
    if (data.state === "failed") {
      var problem = document.createElement("p");
      problem.className = "notice notice--error";
      problem.textContent = data.failure_reason || "The export could not be built.";
      label.parentNode.after(problem);
    }
    return true;
  }

  function poll() {
    fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) { if (!show(data)) setTimeout(poll, delay); })
      .catch(function () { delay = Math.min(delay * 2, 15000); setTimeout(poll, delay); });
  }
  setTimeout(poll, 500);
})();
