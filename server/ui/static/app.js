// OmniQ dashboard: follows GET /v1/events and, when an event concerns
// what the page shows, fetches the page's live part again from the server
// (which renders and escapes it) and puts it in place. No page reload.
(function () {
  "use strict";
  var parts = document.querySelectorAll("[data-live]");
  var status = document.getElementById("live-status");
  if (parts.length === 0 || !window.EventSource) {
    if (status) status.textContent = "not live";
    return;
  }
  var from = document.body.getAttribute("data-position") || "";
  var es = new EventSource("/v1/events" + (from ? "?from=" + encodeURIComponent(from) : ""));
  var pending = null;

  // watched lists the task ids the page shows, when it shows only some.
  function watched() {
    var w = document.getElementById("watch");
    if (!w) return null;
    try { return JSON.parse(w.getAttribute("data-tasks")); } catch (e) { return null; }
  }

  function refresh() {
    pending = null;
    parts.forEach(function (el) {
      fetch(el.getAttribute("data-live"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) el.innerHTML = html; })
        .catch(function () {});
    });
  }

  es.onopen = function () {
    if (status) { status.textContent = "live"; status.className = "status live"; }
  };
  es.onerror = function () {
    if (status) { status.textContent = "reconnecting…"; status.className = "status down"; }
  };
  es.onmessage = function (m) {
    var ids = watched();
    if (ids) {
      var ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      if (ids.indexOf(ev.task_id) < 0) return;
    }
    if (pending === null) pending = setTimeout(refresh, 150);
  };
  window.addEventListener("pagehide", function () { es.close(); });
})();
