#include "admin/dashboard.hpp"

namespace workgate::admin {
namespace {

// Rates and error ratios are computed in the page from the difference between two polls; latency
// quantiles from the histogram buckets (linear interpolation inside a bucket, as Prometheus'
// histogram_quantile), over the last poll interval when it saw requests, else over all requests.
// Every value is put in the DOM with textContent (no HTML from the data is ever parsed).
constexpr std::string_view kHtml = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>workgate admin</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2330;background:#f6f7f9}
h1{font-size:1.4em;margin:0 0 .2em} h2{font-size:1.05em;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff;min-width:40em;box-shadow:0 1px 2px #0001}
th,td{padding:.3em .7em;border-bottom:1px solid #e3e6ea;text-align:left;white-space:nowrap}
th{background:#eef0f3;font-weight:600} td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17803d;font-weight:600} .bad{color:#b42318;font-weight:600} .muted{color:#6b7280}
</style></head><body>
<h1>workgate <span id="version" class="muted"></span></h1>
<div>status: <span id="status">loading</span> &middot; config generation <span id="generation">-</span>
 &middot; <span id="sha" class="muted"></span> &middot; updated <span id="updated">never</span></div>
<h2>Listeners</h2><table id="listeners"><thead><tr><th>name</th><th>address</th><th>open connections</th><th>of them h2</th></tr></thead><tbody></tbody></table>
<h2>Routes</h2><table id="routes"><thead><tr><th>methods</th><th>route</th><th>integration</th><th>auth</th>
<th>requests</th><th>req/s</th><th>errors (5xx)</th><th>error %</th><th>p50</th><th>p99</th></tr></thead><tbody></tbody></table>
<h2>Upstreams</h2><table id="upstreams"><thead><tr><th>server</th><th>responses</th><th>p50</th><th>p99</th>
<th>unavailable</th><th>timeout</th><th>bad response</th><th>targets up</th><th>breaker</th></tr></thead><tbody></tbody></table>
<table id="targets" style="margin-top:.6em"><thead><tr><th>server</th><th>target</th><th>weight</th><th>state</th>
<th>ejections</th><th>failed checks</th></tr></thead><tbody></tbody></table>
<table id="pools" style="margin-top:.6em"><thead><tr><th>pool</th><th>open</th><th>idle</th><th>pending</th></tr></thead><tbody></tbody></table>
<h2>Workers</h2><table id="workers"><thead><tr><th>binding</th><th>function</th><th>calls</th><th>failures</th><th>timeouts</th><th>p99</th></tr></thead><tbody></tbody></table>
<h2>JWKS key sets</h2><table id="jwks"><thead><tr><th>URI</th><th>fetched</th><th>age</th></tr></thead><tbody></tbody></table>
<h2>Reloads</h2><table id="reloads"><thead><tr><th>time</th><th>result</th><th>message</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
let previous = null;
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    out.push({name: m[1], labels, value: parseFloat(m[4])});
  }
  return out;
}
function sum(samples, name, match) {
  let total = 0;
  for (const s of samples) if (s.name === name && match(s.labels)) total += s.value;
  return total;
}
function buckets(samples, name, match) {
  const b = new Map();
  for (const s of samples) if (s.name === name && match(s.labels)) {
    const le = s.labels.le === "+Inf" ? Infinity : parseFloat(s.labels.le);
    b.set(le, (b.get(le) || 0) + s.value);
  }
  return [...b.entries()].sort((x, y) => x[0] - y[0]);
}
function quantile(q, cumulative) {
  if (!cumulative.length) return null;
  const total = cumulative[cumulative.length - 1][1];
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0, below = 0;
  for (const [le, count] of cumulative) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      return lower + (le - lower) * ((rank - below) / Math.max(count - below, 1e-9));
    }
    lower = le; below = count;
  }
  return lower;
}
function windowed(now, before) {
  if (!before) return now;
  const delta = now.map(([le, c], i) => [le, c - (before[i] ? before[i][1] : 0)]);
  return delta.length && delta[delta.length - 1][1] > 0 ? delta : now;
}
function fmtSeconds(s) {
  if (s === null || !isFinite(s)) return "-";
  return s < 0.001 ? (s * 1e6).toFixed(0) + " \u00b5s" : s < 1 ? (s * 1e3).toFixed(1) + " ms" : s.toFixed(2) + " s";
}
function fmt(n, digits) { return n === null || !isFinite(n) ? "-" : n.toFixed(digits || 0); }
function fill(id, rows) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const [k, v] of Object.entries(row.data || {})) tr.dataset[k] = v;
    for (const cell of row.cells) {
      const td = document.createElement("td");
      td.textContent = cell.text;
      if (cell.cls) td.className = cell.cls;
      if (cell.field) td.dataset.field = cell.field;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}
function n(text, field, cls) { return {text: String(text), field, cls: cls || "n"}; }
async function refresh() {
  try {
    const [metricsText, routes, ready, upstreams] = await Promise.all([
      fetch("metrics").then(r => r.text()), fetch("routes").then(r => r.json()), fetch("readyz").then(r => r.json()),
      fetch("upstreams").then(r => r.json())]);
    const samples = parseMetrics(metricsText);
    const now = performance.now();
    const dt = previous ? (now - previous.time) / 1000 : null;
    const state = {time: now, totals: {}, errors: {}, hist: {}, upstreamHist: {}};

    const build = samples.find(s => s.name === "workgate_build_info");
    if (build) document.getElementById("version").textContent =
        build.labels.version + " (" + build.labels.commit + ", worker ABI " + build.labels.abi + ")";
    const status = document.getElementById("status");
    status.textContent = ready.status + (ready.reasons.length ? " (" + ready.reasons.join(", ") + ")" : "");
    status.className = ready.status === "ready" ? "ok" : "bad";
    if (ready.config) {
      document.getElementById("generation").textContent = ready.config.generation;
      document.getElementById("sha").textContent = "sha256 " + ready.config.sha256.slice(0, 12);
    }

    fill("listeners", (ready.listeners || []).map(l => ({data: {listener: l.name}, cells: [
      {text: l.name}, {text: l.url},
      n(l.name === "admin" ? "-" : fmt(sum(samples, "workgate_http_connections_open", x => x.listener === l.name)),
        "connections"),
      n(l.name === "admin" ? "-" : fmt(sum(samples, "workgate_http_connections_open",
                                           x => x.listener === l.name && x.protocol === "h2")), "h2")]})));

    const byPath = new Map();
    for (const r of routes.routes) {
      if (!byPath.has(r.path)) byPath.set(r.path, {methods: [], integration: r.integration, auth: r.auth});
      byPath.get(r.path).methods.push(r.method);
    }
    byPath.set("unmatched", {methods: ["*"], integration: {type: "-"}, auth: false});
    const routeRows = [];
    for (const [path, info] of byPath) {
      const mine = l => l.route === path;
      const total = sum(samples, "workgate_http_requests_total", mine);
      const errors = sum(samples, "workgate_http_requests_total", l => l.route === path && /^5/.test(l.code));
      const hist = buckets(samples, "workgate_http_request_duration_seconds_bucket", mine);
      state.totals[path] = total; state.errors[path] = errors; state.hist[path] = hist;
      const p = previous;
      const rate = p && dt ? (total - (p.totals[path] || 0)) / dt : null;
      const dTotal = p ? total - (p.totals[path] || 0) : total;
      const dErrors = p ? errors - (p.errors[path] || 0) : errors;
      const win = windowed(hist, p && p.hist[path]);
      const integration = info.integration.type + (info.integration.server ? " \u2192 " + info.integration.server :
          info.integration.binding ? " \u2192 " + info.integration.binding + (info.integration.function ? "." + info.integration.function : "") : "");
      routeRows.push({data: {route: path}, cells: [
        {text: info.methods.join(", ")}, {text: path}, {text: integration}, {text: info.auth ? "yes" : ""},
        n(fmt(total), "requests"), n(fmt(rate, 1), "rate"), n(fmt(errors), "errors"),
        n(dTotal > 0 ? fmt(100 * dErrors / dTotal, 1) : "-", "error_ratio"),
        n(fmtSeconds(quantile(0.5, win)), "p50"), n(fmtSeconds(quantile(0.99, win)), "p99")]});
    }
    fill("routes", routeRows);

    const clusters = new Map((upstreams.servers || []).map(c => [c.server, c]));
    const servers = new Set(samples.filter(s => s.name.startsWith("workgate_upstream_") && s.labels.server).map(s => s.labels.server));
    for (const c of clusters.keys()) servers.add(c);
    fill("upstreams", [...servers].map(server => {
      const c = clusters.get(server);
      const up = c ? c.targets.filter(t => t.state === "healthy").length + " of " + c.targets.length : "-";
      const mine = l => l.server === server;
      const hist = buckets(samples, "workgate_upstream_request_duration_seconds_bucket", mine);
      const kind = k => fmt(sum(samples, "workgate_upstream_errors_total", l => l.server === server && l.kind === k));
      return {data: {server}, cells: [{text: server},
        n(fmt(sum(samples, "workgate_upstream_request_duration_seconds_count", mine)), "responses"),
        n(fmtSeconds(quantile(0.5, hist)), "p50"), n(fmtSeconds(quantile(0.99, hist)), "p99"),
        n(kind("unavailable"), "unavailable"), n(kind("timeout"), "timeout"), n(kind("bad_response"), "bad_response"),
        n(up, "targets_up", c && c.targets.some(t => t.state !== "healthy") ? "n bad" : "n"),
        {text: c ? c.breaker + (c.breaker_rejections ? " (" + c.breaker_rejections + " rejected)" : "") : "-",
         field: "breaker", cls: c && c.breaker === "open" ? "bad" : ""}]};
    }));
    const targetRows = [];
    for (const c of clusters.values()) for (const t of c.targets) targetRows.push({data: {target: c.server + " " + t.target},
      cells: [{text: c.server}, {text: t.target}, n(t.weight, "weight"),
        {text: t.state, field: "state", cls: t.state === "healthy" ? "ok" : "bad"},
        n(fmt(t.ejections), "ejections"), n(fmt(t.health_check_failures), "failed_checks")]});
    fill("targets", targetRows);
    const pools = new Set(samples.filter(s => s.name === "workgate_upstream_connections").map(s => s.labels.upstream));
    fill("pools", [...pools].map(pool => {
      const st = k => fmt(sum(samples, "workgate_upstream_connections", l => l.upstream === pool && l.state === k));
      return {data: {pool}, cells: [{text: pool}, n(st("open"), "open"), n(st("idle"), "idle"), n(st("pending"), "pending")]};
    }));

    const workers = new Map();
    for (const s of samples) if (s.name === "workgate_worker_calls_total")
      workers.set(s.labels.binding + "\u0000" + s.labels.function, s.labels);
    fill("workers", [...workers.values()].map(w => {
      const mine = l => l.binding === w.binding && l.function === w.function;
      return {data: {worker: w.binding + "." + w.function}, cells: [{text: w.binding}, {text: w.function},
        n(fmt(sum(samples, "workgate_worker_calls_total", mine)), "calls"),
        n(fmt(sum(samples, "workgate_worker_failures_total", mine)), "failures"),
        n(fmt(sum(samples, "workgate_worker_timeouts_total", mine)), "timeouts"),
        n(fmtSeconds(quantile(0.99, buckets(samples, "workgate_worker_duration_seconds_bucket", mine))), "p99")]};
    }));

    fill("jwks", (ready.jwks || []).map(k => {
      const age = samples.find(s => s.name === "workgate_jwks_key_set_age_seconds" && s.labels.uri === k.uri);
      return {data: {uri: k.uri}, cells: [{text: k.uri}, {text: k.fetched ? "yes" : "no", cls: k.fetched ? "ok" : "bad"},
        n(age ? fmt(age.value, 0) + " s" : "-", "age")]};
    }));
    fill("reloads", (ready.reloads || []).slice().reverse().map(r => ({cells: [{text: r.time},
      {text: r.result, cls: r.result === "ok" ? "ok" : "bad"}, {text: r.message}]})));

    previous = state;
    document.getElementById("updated").textContent = new Date().toISOString();
  } catch (e) {
    const status = document.getElementById("status");
    status.textContent = "admin listener unreachable: " + e;
    status.className = "bad";
  }
}
refresh();
setInterval(refresh, 2000);
</script></body></html>
)HTML";

}  // namespace

std::string_view dashboard_html() {
  return kHtml;
}

}  // namespace workgate::admin
