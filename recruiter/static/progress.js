/* Live sending progress: while letters are queued, ask the server every 2 seconds and update
   the numbers and the bar. Without this file the page shows the numbers of when it loaded. */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var MAX_WAIT_MS = 60000;
  if (!window.fetch) { return; }

  function watch(box) {
    var url = box.getAttribute("data-url");
    var problems = parseInt(box.getAttribute("data-problems") || "0", 10);
    var wait = POLL_MS;

    function update(data) {
      var names = ["sent", "queued", "failed", "in_doubt", "total"];
      names.forEach(function (name) {
        var el = box.querySelector('[data-count="' + name + '"]');
        if (!el) { return; }
        el.textContent = data[name];
        var wrap = el.parentNode;
        if (wrap.classList.contains("count-problem")) {
          wrap.classList.toggle("is-zero", !data[name]);
        }
      });
      var bar = box.querySelector("progress");
      if (bar) {
        bar.max = data.total || 1;
        bar.value = data.sent;
        bar.textContent = data.sent + " of " + data.total;
      }
    }

    function finished(data) {
      box.setAttribute("data-active", "false");
      var scope = box.closest("section") || document;
      var done = scope.querySelector("[data-progress-done]");
      if (done && data.problems !== problems) { done.hidden = false; }
    }

    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        })
        .then(function (data) {
          wait = POLL_MS;
          update(data);
          if (data.active) { setTimeout(tick, POLL_MS); } else { finished(data); }
        })
        .catch(function () {
          // The server is busy or restarting: try again, less often, without a fuss.
          wait = Math.min(wait * 2, MAX_WAIT_MS);
          setTimeout(tick, wait);
        });
    }

    if (box.getAttribute("data-active") === "true") { setTimeout(tick, POLL_MS); }
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-sending-progress]"), watch);
}());
