// The live dashboard at GET / on the admin port: one self-contained page (HTML, CSS and script
// inline, nothing fetched from elsewhere) that polls /status every second. Read-only: it calls no
// mutation, so it needs no token.
#pragma once

#include <string_view>

namespace bgp {

inline constexpr std::string_view kDashboardPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bgproxy</title>
<style>
  :root { --blue: #2f6fdf; --green: #2e9d57; --bad: #c0392b; --muted: #6b7280; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #111; max-width: 1100px; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .muted { color: var(--muted); }
  .row { display: flex; gap: 16px; flex-wrap: wrap; margin: 16px 0; }
  .card { border: 1px solid #ddd; border-radius: 8px; padding: 12px 16px; min-width: 220px; }
  .big { font-size: 24px; font-weight: 600; }
  .bar { display: flex; height: 28px; border-radius: 6px; overflow: hidden; margin: 8px 0; }
  .bar div { color: #fff; font-weight: 600; display: flex; align-items: center;
             justify-content: center; min-width: 0; transition: width .4s;
             white-space: nowrap; overflow: hidden; font-size: 13px; }
  .blue { background: var(--blue); } .green { background: var(--green); }
  .progress { height: 8px; background: #eee; border-radius: 4px; overflow: hidden; }
  .progress div { height: 100%; background: #555; }
  table { border-collapse: collapse; width: 100%; }
  td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
  .breach { color: var(--bad); font-weight: 600; }
  #error { color: var(--bad); }
</style>
</head>
<body>
<h1>bgproxy <span class="muted" id="updated"></span></h1>
<div id="error"></div>
<div class="row">
  <div class="card"><div class="muted">state</div><div class="big" id="state">-</div>
    <div id="held" class="muted"></div></div>
  <div class="card"><div class="muted">live / candidate</div>
    <div class="big"><span id="live">-</span> / <span id="candidate">-</span></div>
    <div id="retained" class="muted"></div></div>
  <div class="card" style="flex:1"><div class="muted">traffic</div>
    <div class="bar"><div class="blue" id="bar-blue"></div><div class="green" id="bar-green"></div></div>
    <div class="muted" id="weights">-</div></div>
</div>
<div class="card"><div class="muted">step</div><div id="step">no rollout running</div>
  <div class="progress"><div id="step-progress" style="width:0"></div></div>
  <div class="muted" id="step-left"></div></div>
<div class="row">
  <div class="card" style="flex:1"><div class="muted">this step's numbers</div>
    <table><thead><tr><th>color</th><th>requests</th><th>errors</th><th>error rate</th>
      <th>p99</th></tr></thead><tbody id="window"></tbody></table></div>
  <div class="card" style="flex:1"><div class="muted">the judge's evidence (docs/judge.md)</div>
    <table><thead><tr><th>rule</th><th>estimate</th><th>threshold</th><th>evidence</th>
      <th>requests</th></tr></thead><tbody id="evidence"></tbody></table></div>
</div>
<div class="card"><div class="muted">last decision</div><div id="decision">-</div></div>
<div class="card" style="margin-top:16px"><div class="muted">history</div>
  <table><tbody id="history"></tbody></table></div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const text = (id, value) => { $(id).textContent = value; };
const cell = (value, cls) => {
  const td = document.createElement("td");
  td.textContent = value;
  if (cls) td.className = cls;
  return td;
};
const row = (cells) => {
  const tr = document.createElement("tr");
  cells.forEach((c) => tr.appendChild(c));
  return tr;
};
const fill = (id, rows) => $(id).replaceChildren(...rows);
const num = (v, digits) => (v === null || v === undefined) ? "-" : Number(v).toFixed(digits);
const isLatency = (rule) => rule.startsWith("latency");
const shown = (rule, v) => v === null ? "n/a" : isLatency(rule) ? num(v, 2) + " ms"
                                                              : (100 * v).toFixed(2) + "%";

function render(s) {
  text("state", s.state);
  text("held", s.held ? "held: the step waits for min_requests" : "");
  text("live", s.live);
  text("candidate", s.candidate);
  text("retained", s.retained ? "retained " + s.retained.color + " until " + s.retained.until
                              : (s.watch ? "watched until " + s.watch.until : ""));
  const blue = s.weights.blue, green = s.weights.green;
  $("bar-blue").style.width = blue + "%";
  $("bar-green").style.width = green + "%";
  text("bar-blue", blue > 8 ? "blue " + blue + "%" : "");
  text("bar-green", green > 8 ? "green " + green + "%" : "");
  text("weights", "blue " + blue + "%, green " + green + "%");
  if (s.step === null) {
    text("step", "no rollout running");
    $("step-progress").style.width = "0";
    text("step-left", "");
  } else {
    text("step", "step " + (s.step + 1) + " of " + s.steps.length + ": " + s.candidate + " at " +
         s.steps[s.step] + "%");
    const start = Date.parse(s.step_started_at), end = Date.parse(s.next_step_at);
    if (s.next_step_at) {
      const done = Math.min(1, Math.max(0, (Date.now() - start) / (end - start)));
      $("step-progress").style.width = (100 * done).toFixed(1) + "%";
      text("step-left", Math.max(0, Math.round((end - Date.now()) / 1000)) + " s left");
    } else {
      text("step-left", s.state);
    }
  }
  fill("window", Object.entries(s.window).map(([color, w]) => row([
    cell(color, color), cell(w.requests), cell(w.errors), cell((100 * w.error_rate).toFixed(2) + "%"),
    cell(num(w.p99_ms, 1) + " ms")])));
  fill("evidence", (s.evidence || []).map((r) => row([
    cell(r.rule), cell(shown(r.rule, r.estimate)), cell(shown(r.rule, r.threshold)),
    cell(num(r.e, 2) + " / " + r.bar, r.breached ? "breach" : ""),
    cell(r.candidate_requests + (r.reference_requests ? " vs " + r.reference_requests : ""))])));
  text("decision", s.last_decision || "-");
  fill("history", (s.history || []).slice(-12).reverse().map((e) => row([
    cell(e.at), cell(e.event), cell(e.detail)])));
  text("updated", "updated " + new Date().toLocaleTimeString());
  text("error", "");
}

async function poll() {
  try {
    const answer = await fetch("status", { cache: "no-store" });
    render(await answer.json());
  } catch (e) {
    text("error", "cannot read /status: " + e);
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
)html";

}  // namespace bgp
