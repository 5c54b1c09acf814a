// The operator dashboard: one EventSource on /dashboard/events, a `snapshot` every second; charts by
// uPlot (vendored), everything else plain DOM. No framework, nothing loaded from elsewhere.
"use strict";
(function () {
  const KEEP = 300; // points per chart (5 minutes at one push a second)
  const series = { t: [], accepted: [], final: [], dispatch: [], accept: [], lifecycle: [], deliveries: [],
                   avg: [], p95: [] };
  const $ = (id) => document.getElementById(id);
  const fmt = (n, digits = 1) => (n === null || n === undefined) ? "–" : Number(n).toFixed(digits);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                                   '"': "&quot;", "'": "&#39;" }[c]));
  function chart(id, labels, colors) {
    const el = $(id);
    const opts = { width: el.clientWidth || 400, height: 180, legend: { live: false },
      scales: { x: { time: true } }, axes: [{}, { size: 50 }],
      series: [{}].concat(labels.map((label, i) => ({ label, stroke: colors[i], width: 2,
                                                         fill: colors[i] + "22" }))) };
    return new uPlot(opts, [[]].concat(labels.map(() => [])), el);
  }
  const charts = {
    throughput: chart("chart-throughput", ["accepted/s", "final/s"], ["#2563eb", "#1f9d55"]),
    queues: chart("chart-queues", ["dispatch", "accept", "lifecycle", "to customers"],
                  ["#d97706", "#2563eb", "#7c3aed", "#1f9d55"]),
    latency: chart("chart-latency", ["average", "p95"], ["#1f9d55", "#dc2626"]),
  };
  window.addEventListener("resize", () => {
    for (const c of Object.values(charts)) c.setSize({ width: c.root.parentElement.clientWidth - 8, height: 180 });
  });
  function push(key, value) { series[key].push(value); if (series[key].length > KEEP) series[key].shift(); }
  function bars(el, items, value, label, max) {
    el.innerHTML = items.length ? items.map((it) => {
      const pct = max > 0 ? Math.max(0, Math.min(100, 100 * value(it) / max)) : 0;
      return `<div class="bar"><div class="label"><span>${label(it)[0]}</span><span>${label(it)[1]}</span></div>` +
             `<div class="track"><div class="fill" style="width:${pct}%"></div></div></div>`;
    }).join("") : '<p class="empty">none</p>';
  }
  function rows(el, items, cells) {
    el.querySelector("tbody").innerHTML = items.length
      ? items.map((it) => "<tr>" + cells(it).map((c) => `<td>${esc(c)}</td>`).join("") + "</tr>").join("")
      : `<tr><td class="empty" colspan="5">none</td></tr>`;
  }
  const time = (iso) => new Date(iso).toLocaleTimeString();
  function render(s) {
    const tp = s.throughput, q = s.queues;
    push("t", s.at); push("accepted", tp.accepted_per_s); push("final", tp.final_per_s);
    push("dispatch", q.dispatch); push("accept", q.accept); push("lifecycle", q.lifecycle);
    push("deliveries", q.deliveries); push("avg", tp.receipt_latency_avg_s); push("p95", tp.receipt_latency_p95_s);
    charts.throughput.setData([series.t, series.accepted, series.final]);
    charts.queues.setData([series.t, series.dispatch, series.accept, series.lifecycle, series.deliveries]);
    charts.latency.setData([series.t, series.avg, series.p95]);
    $("accepted-rate").textContent = fmt(tp.accepted_per_s);
    $("final-rate").textContent = fmt(tp.final_per_s);
    $("accepted-total").textContent = fmt(tp.accepted_total, 0);
    $("latency").textContent = tp.receipt_latency_p95_s === null ? "–" : fmt(tp.receipt_latency_p95_s, 2) + " s";
    $("backlog").textContent = fmt(q.dispatch, 0);
    $("carrier-binds").innerHTML = s.binds.carriers.length ? s.binds.carriers.map((c) =>
      `<div class="bind" data-carrier="${esc(c.carrier)}">${c.states.map((st) => `<span class="dot ${esc(st)}" title="${esc(st)}"></span>`).join("")}` +
      `<b>${esc(c.carrier)}</b><span>${c.bound}/${c.binds} bound</span>` +
      `<span class="muted">errors ${fmt(100 * c.error_rate, 0)}%${c.cooling_down ? " · cooling down" : ""}</span></div>`).join("")
      : '<p class="empty">no carrier configured</p>';
    $("customer-binds").innerHTML = s.binds.customers.length ? s.binds.customers.map((c) =>
      `<div class="bind"><span class="dot ${esc(c.state)}"></span><b>${esc(c.system_id)}</b>` +
      `<span>${esc(c.state.replace("BOUND_", ""))}</span><span class="muted">${esc(c.peer)}</span></div>`).join("")
      : '<p class="empty">no customer bound</p>';
    const top = Math.max(0, ...s.balances.map((b) => b.available));
    bars($("balances"), s.balances, (b) => b.available, (b) => [esc(b.name), `${esc(b.available_amount)} ${esc(b.currency)}`], top);
    bars($("campaigns"), s.campaigns, (c) => c.done, (c) => [`${esc(c.name)} (${esc(c.state)})`, `${c.done}/${c.total}`], 1);
    for (const [i, c] of s.campaigns.entries()) {
      const fill = $("campaigns").querySelectorAll(".fill")[i];
      if (fill) fill.style.width = (c.total ? 100 * c.done / c.total : 0) + "%";
    }
    rows($("failures"), s.failures, (f) => [time(f.at), f.id, f.to, f.status, f.reason]);
    rows($("refusals"), s.refusals, (r) => [new Date(r.at * 1000).toLocaleTimeString(), r.channel, r.account, r.reason, r.detail]);
    rows($("refused-binds"), s.refused_binds, (b) => [time(b.at), b.peer, b.system_id, "0x" + b.status.toString(16), b.reason]);
    document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots || 0) + 1);
  }
  const status = $("status");
  const source = new EventSource("/dashboard/events");
  source.addEventListener("snapshot", (e) => {
    status.textContent = "live"; status.className = "badge live";
    render(JSON.parse(e.data));
  });
  source.onerror = () => { status.textContent = "reconnecting…"; status.className = "badge down"; };
})();
