// The only script besides htmx: keep a live task log scrolled to its end while the reader is
// there, and leave it alone when they have scrolled up to read.
(function () {
  function log() { return document.getElementById("log"); }
  document.addEventListener("DOMContentLoaded", function () {
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
  });
})();
