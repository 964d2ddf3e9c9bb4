// codecbench report: sortable tables. No data is evaluated: cells are read via textContent/dataset.
(function () {
  "use strict";
  function sortValue(cell, numeric) {
    var raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    if (!numeric) return raw.toLowerCase();
    var v = parseFloat(raw);
    return isNaN(v) ? null : v;
  }
  function sortTable(table, col, th) {
    var numeric = th.dataset.type === "num";
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    // pinned rows (the reference ceiling) stay on top: only the others are re-appended in order
    var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return !r.hasAttribute("data-pinned"); });
    rows.forEach(function (r, i) { r._pos = i; });
    rows.sort(function (a, b) {
      var x = sortValue(a.cells[col], numeric), y = sortValue(b.cells[col], numeric);
      if (x === null && y === null) return a._pos - b._pos;
      if (x === null) return 1;           // missing values always last
      if (y === null) return -1;
      var c = x < y ? -1 : x > y ? 1 : 0;
      return (asc ? c : -c) || a._pos - b._pos;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function init() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("thead th").forEach(function (th, col) {
        th.tabIndex = 0;
        th.addEventListener("click", function () { sortTable(table, col, th); });
        th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortTable(table, col, th); });
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
