// Calendar drag-and-drop (progressive enhancement: every post also has a reschedule form).
// Dropping a post on another day keeps its local time and asks the API to move it; the page
// reloads to show the server's answer, or says why the move was refused.
(function () {
  "use strict";
  var table = document.querySelector("table.calendar");
  if (!table) { return; }
  var tz = table.getAttribute("data-timezone");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var dragged = null;
  table.addEventListener("dragstart", function (e) {
    var chip = e.target.closest && e.target.closest("article.chip[draggable=true]");
    if (!chip) { return; }
    dragged = chip;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", chip.getAttribute("data-post-id"));
  });
  table.addEventListener("dragover", function (e) {
    var cell = e.target.closest && e.target.closest("td.day");
    if (cell && dragged) { e.preventDefault(); cell.classList.add("day-drop"); }
  });
  table.addEventListener("dragleave", function (e) {
    var cell = e.target.closest && e.target.closest("td.day");
    if (cell) { cell.classList.remove("day-drop"); }
  });
  table.addEventListener("drop", function (e) {
    var cell = e.target.closest && e.target.closest("td.day");
    if (!cell || !dragged) { return; }
    e.preventDefault();
    cell.classList.remove("day-drop");
    var id = dragged.getAttribute("data-post-id");
    var when = cell.getAttribute("data-date") + "T" + dragged.getAttribute("data-time");
    dragged = null;
    fetch("/api/posts/" + encodeURIComponent(id), {
      method: "PATCH",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ scheduled_at: when, timezone: tz })
    }).then(function (res) {
      if (res.ok) { window.location.reload(); return null; }
      return res.json().then(function (problem) {
        var detail = (problem.errors || []).map(function (f) { return f.message; }).join(" ");
        window.alert(detail || problem.detail || "The post could not be moved.");
      });
    }).catch(function () { window.alert("The post could not be moved; check your connection."); });
  });
})();
