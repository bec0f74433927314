// Live intake progress on the sheet list: poll the JSON endpoint every second while work is under way.
(function () {
  "use strict";
  var box = document.getElementById("intake-progress");
  if (!box) return;
  var messages = JSON.parse(document.getElementById("intake-messages").textContent);
  var shownCount = Number(box.dataset.count), shownReady = Number(box.dataset.ready);
  var runsList = document.getElementById("intake-runs");
  var stateLine = document.getElementById("intake-state");

  function showRuns(runs) {
    runsList.textContent = "";
    runs.forEach(function (run) {
      var item = document.createElement("li");
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.value = run.progress;
      var text = document.createElement("span");
      text.textContent = run.message || run.name;
      item.appendChild(bar);
      item.appendChild(text);
      runsList.appendChild(item);
    });
  }

  function poll() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (data) {
        // New sheets or newly rendered ones: show them with their thumbnails.
        if (data.counts.sheets !== shownCount || data.counts.ready !== shownReady) {
          window.location.reload();
          return;
        }
        stateLine.textContent = data.busy ? messages.busy : messages.idle;
        showRuns(data.runs);
        if (data.busy) window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  if (box.dataset.busy === "true") window.setTimeout(poll, 1000);
})();
