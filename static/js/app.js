// The only script besides htmx: keep a live task log scrolled to its end while the reader is
// there, and leave it alone when they have scrolled up to read; drop a task's in-flight notice
// once the task has ended; and tell pollers that the tab is
// visible again ("hm-visible"), so they refresh at once. htmx could filter visibilitychange
// itself, but its filters are compiled with eval, which the Content-Security-Policy forbids.
(function () {
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { document.dispatchEvent(new Event("hm-visible")); }
  });
  function log() { return document.getElementById("log"); }
  // A notice about a task in flight ("Cancel requested") goes once the task has ended.
  function dropInFlight() {
    if (document.querySelector("#task-live[data-final]")) {
      document.querySelectorAll(".messages .until-final").forEach(function (m) { m.remove(); });
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    dropInFlight();
    var el = log();
    if (el) { el.scrollTop = el.scrollHeight; }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var el = log();
    if (el && el.contains(event.detail.target)) {
      el.dataset.stick = el.scrollTop + el.clientHeight >= el.scrollHeight - 24 ? "1" : "";
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    var el = log();
    if (el && el.dataset.stick === "1") { el.scrollTop = el.scrollHeight; }
    dropInFlight();
  });
})();
