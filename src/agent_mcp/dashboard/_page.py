# ruff: noqa: E501  (the page's own lines: HTML, CSS and script)
"""The dashboard's pages, their style and their script: no build step, no CDN (it works offline).
The script and the style are served as files of their own (/dashboard.js, /dashboard.css), so the
Content-Security-Policy allows no inline script or style at all. Everything an agent wrote reaches
the page as JSON and is set as text (textContent, createTextNode), never parsed as markup: the
script has no innerHTML, insertAdjacentHTML or eval."""

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>agent-mcp</title><link rel="stylesheet" href="/dashboard.css"></head>
<body class="login"><h1>agent-mcp</h1><p>This dashboard needs its token (AGENT_MCP_TOKEN / --token).</p><!--wrong-->
<form method="post" action="/login"><input type="password" name="token" autofocus placeholder="token">
<button>Open</button></form></body></html>
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>agent-mcp</title>
<link rel="stylesheet" href="/dashboard.css"></head>
<body>
<header><h1>agent-mcp</h1><span id="totals"></span><span id="err"></span></header>
<main>
<div><section><h2>Accounts</h2><div id="accounts"></div><div id="spend"></div></section>
<section><h2>Agents</h2><table><thead><tr><th>name</th><th>host</th><th>status</th><th>queued</th><th>messages</th>
<th>cost</th><th>tokens in/out</th><th>session</th><th>last active</th></tr></thead><tbody id="agents"></tbody></table></section></div>
<div><section id="agent-view" hidden><h2 id="agent-name"></h2><div id="chart-label"></div><svg id="chart" width="600" height="100"></svg>
<table><thead><tr><th>run</th><th>status</th><th>message</th><th>cost</th><th></th></tr></thead>
<tbody id="runs"></tbody></table></section>
<section id="run-view" hidden><h2 id="run-title"></h2><div id="events"></div></section></div>
</main>
<script src="/dashboard.js"></script></body></html>
"""

STYLE = """body.login{font:15px system-ui,sans-serif;margin:4em auto;max-width:24em;background:#fff}.err{color:#b00}
body{font:14px system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#223;color:#fff;padding:.6em 1em;display:flex;gap:2em;align-items:baseline}
header h1{font-size:1.1em;margin:0}main{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1em;padding:1em}
table{border-collapse:collapse;width:100%;background:#fff}td,th{padding:.3em .5em;border-bottom:1px solid #eee;text-align:left}
tr.agent{cursor:pointer}tr.agent:hover,tr.sel{background:#eef}tr.step td{color:#06c;font-size:.9em;border-bottom:1px solid #eee}
.status{font-weight:600}.running{color:#06c}.waiting_permission{color:#c60}.idle{color:#888}
section{background:#fff;border:1px solid #ddd;padding:.6em;margin-bottom:1em;overflow-x:auto}
.ev{border-left:3px solid #ccc;padding:.2em .5em;margin:.3em 0;white-space:pre-wrap;word-break:break-word}
.ev.tool_use{border-color:#06c}.ev.tool_result{border-color:#999}.ev.error{border-color:#b00}
.ev.permission_request{border-color:#c60;background:#fff6ec}.ev .at{color:#999;font-size:.85em}
button{margin-right:.4em}#err{color:#b00}svg{background:#fff;border:1px solid #eee}
.account{margin:.3em 0}.window{display:flex;gap:.6em;align-items:center;font-size:.9em}
.bar{width:12em;height:.8em;background:#eee;border:1px solid #ccc}.fill{height:100%;background:#4a4}
.fill.allowed_warning{background:#c90}.fill.rejected{background:#b00}.paused{color:#b00;font-weight:600}
"""

SCRIPT = """"use strict";
const state = {agent: null, run: null, after: 0, runStatus: null};
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}
function say(text) { document.getElementById("err").textContent = text || ""; }
async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}
async function act(path, body) {
  try {
    await api(path, {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body || {})});
    say("");
  } catch (error) { say(error.message); }
}
function money(value) { return value === null || value === undefined ? "n/a" : "$" + value.toFixed(4); }
async function refreshAgents() {
  const {agents} = await api("/api/agents");
  const rows = [];
  for (const agent of agents) {
    rows.push(el("tr", {class: "agent" + (agent.name === state.agent ? " sel" : ""), "data-agent": agent.name,
        on: {click: () => pick(agent.name)}},
      el("td", {}, agent.name + (agent.cli && agent.cli !== "claude" ? " (" + agent.cli + ")" : "")), el("td", {class: "host"}, agent.host || "local"), el("td", {class: "status " + agent.status}, agent.status + (agent.warm ? " (warm)" : "")),
      el("td", {}, agent.queued), el("td", {}, agent.message_count), el("td", {}, money(agent.total_cost_usd)),
      el("td", {}, (agent.total_input_tokens || 0) + " / " + (agent.total_output_tokens || 0)),
      el("td", {title: agent.session_id || ""}, (agent.session_id || "").slice(0, 8)),
      el("td", {title: agent.last_activity || ""}, (agent.last_activity || "").slice(11, 19))));
    if (agent.step) rows.push(el("tr", {class: "step", "data-step": agent.name}, el("td", {colspan: "9"}, "\u21b3 " + agent.step)));
  }
  document.getElementById("agents").replaceChildren(...rows);
  const cost = agents.reduce((sum, a) => sum + (a.total_cost_usd || 0), 0);
  const busy = agents.filter(a => a.status !== "idle").length;
  document.getElementById("totals").textContent = agents.length + " agents, " + busy + " busy, " + money(cost) + " spent";
}
function bar(share, status) {
  const fill = el("div", {class: "fill " + status});
  fill.style.width = Math.round(Math.min(1, Math.max(0, share)) * 100) + "%";
  return el("div", {class: "bar"}, fill);
}
async function refreshPool() {
  const pool = await api("/api/pool");
  const nodes = pool.accounts.map(account => el("div", {class: "account"},
    el("strong", {}, account.host || "this machine"),
    account.paused_until ? el("span", {class: "paused"}, " paused until " + account.paused_until.slice(0, 19)) : "",
    ...account.windows.map(w => el("div", {class: "window", "data-window": w.type},
      el("span", {}, w.type), bar(w.status === "rejected" ? 1 : (w.utilization || 0), w.status),
      el("span", {}, w.status + (w.utilization != null ? " " + Math.round(w.utilization * 100) + "%" : "")),
      el("span", {}, w.resets_at ? "resets " + w.resets_at.slice(0, 16) : "")))));
  document.getElementById("accounts").replaceChildren(...nodes);
  const spend = pool.spend;
  const cap = spend.max_cost_usd;
  document.getElementById("spend").replaceChildren(el("div", {class: "window", id: "spend-bar"},
    el("span", {}, "spend"), cap ? bar(spend.cost_usd / cap, spend.cost_usd >= cap ? "rejected" : "allowed") : "",
    el("span", {}, money(spend.cost_usd) + (cap ? " of " + money(cap) : " (no cap)") +
      (spend.window_s ? " over " + Math.round(spend.window_s / 3600) + " h" : " in all") +
      (spend.unknown_cost_runs ? ", " + spend.unknown_cost_runs + " runs of unknown cost" : ""))));
}
function chart(runs) {
  const svg = document.getElementById("chart");
  const done = runs.filter(r => r.finished_at && r.response).reverse();
  let total = 0;
  const points = done.map((r, i) => [i, total += r.response.cost_usd || 0]);
  const width = 600, height = 100, most = Math.max(total, 1e-9), steps = Math.max(points.length - 1, 1);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("fill", "none"); line.setAttribute("stroke", "#06c"); line.setAttribute("stroke-width", "2");
  line.setAttribute("points", points.map(([i, c]) => (10 + i * (width - 20) / steps) + "," + (height - 10 - c * (height - 20) / most)).join(" "));
  document.getElementById("chart-label").textContent = "cost over its last runs: " + money(total);
  const dots = points.map(([i, c]) => {
    const dot = document.createElementNS("http://www.w3.org/2000/svg", "circle");
    dot.setAttribute("cx", 10 + i * (width - 20) / steps); dot.setAttribute("cy", height - 10 - c * (height - 20) / most);
    dot.setAttribute("r", "3"); dot.setAttribute("fill", "#06c");
    return dot;
  });
  svg.replaceChildren(line, ...dots);
}
async function refreshRuns() {
  if (!state.agent) return;
  const {runs} = await api("/api/agents/" + encodeURIComponent(state.agent) + "/runs");
  chart(runs);
  const rows = runs.map(run => el("tr", {"data-run": run.run_id},
    el("td", {}, el("a", {href: "#", on: {click: e => { e.preventDefault(); show(run.run_id); }}}, run.run_id)),
    el("td", {class: "status " + run.status}, run.status), el("td", {}, run.message.slice(0, 80)),
    el("td", {}, run.response ? money(run.response.cost_usd) : ""),
    el("td", {}, ["queued", "running", "waiting_permission"].includes(run.status)
      ? el("button", {class: "cancel", on: {click: () => act("/api/runs/" + run.run_id + "/cancel")}}, "cancel") : "")));
  document.getElementById("runs").replaceChildren(...rows);
}
function eventNode(event) {
  const head = el("div", {}, el("span", {class: "at"}, event.at.slice(11, 19) + " "), event.kind + ": " + event.summary);
  const node = el("div", {class: "ev " + event.kind, "data-seq": event.seq}, head);
  if (event.content && event.kind === "tool_result") node.append(el("details", {}, el("summary", {}, "output"), event.content));
  else if (event.content && event.kind !== "tool_use" && event.content !== event.summary) node.append(el("div", {class: "content"}, event.content));
  if (event.kind === "permission_request" && event.request_id) {
    for (const decision of ["allow", "allow_always", "deny"]) {
      node.append(el("button", {class: "answer", "data-decision": decision, on: {click: () =>
        act("/api/runs/" + state.run + "/answer", {request_id: event.request_id, decision})}}, decision));
    }
  }
  return node;
}
async function refreshRun() {
  if (!state.run) return;
  const page = await api("/api/runs/" + state.run + "/transcript?after=" + state.after);
  const box = document.getElementById("events");
  for (const event of page.events) box.append(eventNode(event));
  state.after = page.next;
  state.runStatus = page.status;
  document.getElementById("run-title").textContent = "run " + state.run + ": " + page.status;
  for (const button of box.querySelectorAll("button.answer")) button.hidden = page.status !== "waiting_permission";
}
function pick(agent) {
  state.agent = agent;
  document.getElementById("agent-view").hidden = false;
  document.getElementById("agent-name").textContent = agent;
  tick();
}
function show(run) {
  state.run = run; state.after = 0;
  document.getElementById("events").replaceChildren();
  document.getElementById("run-view").hidden = false;
  tick();
}
let busy = false;
async function tick() {
  if (busy) return;
  busy = true;
  try { await refreshAgents(); await refreshPool(); await refreshRuns(); await refreshRun(); say(""); }
  catch (error) { say(error.message); }
  finally { busy = false; }
}
tick();
setInterval(tick, 700);
"""
