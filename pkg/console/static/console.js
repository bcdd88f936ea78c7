// Hourglass console: draws the overview's charts with uPlot from
// stats.json and refreshes them; everything else works without scripts.
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("charts");
    if (!box || typeof uPlot === "undefined") { return; }
    var url = box.getAttribute("data-stats");
    var every = parseInt(box.getAttribute("data-poll"), 10) || 2000;
    var width = Math.min(900, box.clientWidth || 900);
    var rate = null, late = null;
    function cols(s) {
      var t = [], c = [], e = [], p50 = [], p99 = [];
      s.series.forEach(function (p) {
        t.push(Date.parse(p.t) / 1000);
        c.push(p.created_per_s); e.push(p.executed_per_s);
        p50.push(p.lateness_p50_ms); p99.push(p.lateness_p99_ms);
      });
      return { rate: [t, c, e], late: [t, p50, p99] };
    }
    function draw(s) {
      var d = cols(s);
      if (!rate) {
        rate = new uPlot({ width: width, height: 220, series: [{}, { label: "created/s", stroke: "#0550ae" }, { label: "executed/s", stroke: "#116329" }] },
          d.rate, document.getElementById("chart-rate"));
        late = new uPlot({ width: width, height: 220, series: [{}, { label: "p50 ms", stroke: "#7d4e00", spanGaps: true }, { label: "p99 ms", stroke: "#a40e26", spanGaps: true }] },
          d.late, document.getElementById("chart-lateness"));
      } else {
        rate.setData(d.rate);
        late.setData(d.late);
      }
    }
    function poll() {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) { if (s && s.series) { draw(s); } })
        .catch(function () {})
        .finally(function () { setTimeout(poll, every); });
    }
    poll();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
