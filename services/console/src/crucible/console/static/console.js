// Keyboard shortcuts: review (a approve, r reject, n next; j/k/Enter in the queue) and rating (1, 2, t).
(function () {
  function typing(e) { var t = e.target; return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT"); }
  function click(id) { var el = document.getElementById(id); if (el) { el.click(); return true; } return false; }
  var cursor = -1;
  document.addEventListener("keydown", function (e) {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    var keys = { a: "approve", r: "reject", n: "next", "1": "prefer-1", "2": "prefer-2", t: "prefer-tie" };
    if (keys[e.key] && click(keys[e.key])) { e.preventDefault(); return; }
    var rows = document.querySelectorAll("table.queue tr[data-href]");
    if (!rows.length) return;
    if (e.key === "j" || e.key === "k") {
      if (cursor >= 0 && rows[cursor]) rows[cursor].classList.remove("cursor");
      cursor = Math.max(0, Math.min(rows.length - 1, cursor + (e.key === "j" ? 1 : -1)));
      rows[cursor].classList.add("cursor"); rows[cursor].scrollIntoView({ block: "nearest" });
    } else if (e.key === "Enter" && cursor >= 0) {
      window.location = rows[cursor].dataset.href;
    }
  });
})();
