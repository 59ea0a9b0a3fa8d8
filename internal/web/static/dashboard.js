// herd's dashboard: this node's counters charted over five minutes, the
// topics, a live inspector and a publish playground. Plain JavaScript, no
// build step. With token auth on, it asks for a token and shows only what
// the hub lets that token see: it has no access of its own.
"use strict";

const $ = (id) => document.getElementById(id);
const cfg = { auth: document.body.dataset.auth === "true" };
let token = sessionStorage.getItem("herd.token") || "";

function authHeaders(extra = {}) {
  return token ? { ...extra, Authorization: "Bearer " + token } : extra;
}

function showTokenForm(why) {
  $("token").hidden = false;
  if (why) $("tokenstate").textContent = why;
}

function setToken(t) {
  token = t;
  if (t) {
    sessionStorage.setItem("herd.token", t);
    $("tokenstate").textContent = "token in use (for this tab)";
  } else {
    sessionStorage.removeItem("herd.token");
    $("tokenstate").textContent = "no token";
  }
  refreshTopics();
  renderCommands();
  renderSubscribe();
}

$("token").onsubmit = (e) => {
  e.preventDefault();
  setToken(e.target.token.value.trim());
  e.target.token.value = "";
};
$("forget").onclick = () => setToken("");
if (cfg.auth) showTokenForm(token ? "token in use (for this tab)" : "this hub checks tokens: give one to see its topics");

// ---- counters and charts

const window5m = 300; // one point a second
const series = { subscribers: [], publishes: [], deliveries: [], storeerrors: [] };
let previous;

// push adds a point to a chart, scaled from 0 to the series' peak, which
// the chart's axis names.
function push(name, value, unit = "") {
  const s = series[name];
  s.push(value);
  if (s.length > window5m) s.shift();
  const peak = Math.max(...s);
  const max = Math.max(peak, name === "subscribers" || name === "storeerrors" ? 1 : 0.1);
  $("peak-" + name).textContent = "peak " + fmtRate(peak) + unit;
  const span = Math.max(s.length, 60) - 1; // fills as it goes, a minute at least
  const points = s.map((v, i) => `${(i * 300) / span},${40 - (v / max) * 38 - 1}`).join(" ");
  $("chart-" + name).firstElementChild.setAttribute("points", points);
}

const fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const fmtSmall = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 2 });
// fmtRate shows a rate below 1 with two significant digits: one publish a
// minute reads 0.017, not 0.
const fmtRate = (v) => (v > 0 && v < 1 ? fmtSmall.format(v) : fmt.format(v));

// samples are the counters of the last minute, for rates that do not read
// 0 between two events at low traffic.
const samples = [];
function rateOver(s, now, field) {
  const old = samples[0];
  return old && now > old.t ? Math.max(0, (s[field] - old.s[field]) / (now - old.t)) : 0;
}

async function refreshStats() {
  let s;
  try {
    const resp = await fetch("/api/stats?nodes=1", { headers: authHeaders() });
    if (resp.status === 403) {
      $("overview-note").textContent = "Counters are served to this machine only, or with the hub's publish key.";
      return;
    }
    if (!resp.ok) return;
    s = await resp.json();
  } catch (_) {
    return;
  }
  const now = Date.parse(s.time) / 1000;
  let pubRate = 0, delRate = 0;
  if (previous && now > previous.t) {
    const dt = now - previous.t;
    pubRate = Math.max(0, (s.published - previous.s.published) / dt);
    delRate = Math.max(0, (s.delivered - previous.s.delivered) / dt);
  }
  previous = { t: now, s };
  samples.push({ t: now, s });
  while (samples.length > 1 && now - samples[0].t > 60) samples.shift();
  const pubMinute = rateOver(s, now, "published"), delMinute = rateOver(s, now, "delivered");
  $("subscribers").value = fmt.format(s.subscribers);
  $("publishes").value = fmtRate(pubMinute);
  $("deliveries").value = fmtRate(delMinute);
  $("storeerrors").value = fmt.format(s.store_errors);
  push("subscribers", s.subscribers);
  push("publishes", pubRate, "/s");
  push("deliveries", delRate, "/s");
  push("storeerrors", s.store_errors);
  const ended = Object.entries(s.ended || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  const rows = ended.map(([reason, n]) => {
    const tr = document.createElement("tr");
    tr.append(cell(reason), cell(fmt.format(n)));
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.append(cell("none yet"));
    rows.push(tr);
  }
  $("ended").tBodies[0].replaceChildren(...rows);
  if (s.nodes) renderNodes(s, pubRate, delRate);
  document.body.dataset.state = "live";
}

// Every node's figures, with rates from each node's previous sample.
const previousNodes = new Map();
function renderNodes(own, pubRate, delRate) {
  const rows = [{ url: location.origin + " (this node)", stats: own, rates: [pubRate, delRate] }];
  for (const n of own.nodes) {
    let rates = ["", ""];
    if (n.stats) {
      const t = Date.parse(n.stats.time) / 1000, prev = previousNodes.get(n.url);
      if (prev && t === prev.t) {
        rates = prev.rates; // the node answered from its short cache of peers
      } else if (prev && t > prev.t) {
        rates = [(n.stats.published - prev.s.published) / (t - prev.t), (n.stats.delivered - prev.s.delivered) / (t - prev.t)];
      }
      previousNodes.set(n.url, { t, s: n.stats, rates });
    }
    rows.push({ url: n.url, stats: n.stats, error: n.error, rates });
  }
  const trs = rows.map((n) => {
    const tr = document.createElement("tr");
    tr.dataset.node = n.url;
    if (!n.stats) {
      tr.append(cell(n.url), cell(n.error || "unreachable"));
      tr.className = "down";
      return tr;
    }
    const rate = (v) => (v === "" ? "…" : fmt.format(Math.max(0, v)));
    tr.append(cell(n.url), cell(fmt.format(n.stats.subscribers)), cell(rate(n.rates[0])), cell(rate(n.rates[1])), cell(fmt.format(n.stats.store_errors)));
    return tr;
  });
  $("nodes").tBodies[0].replaceChildren(...trs);
  $("nodes").hidden = false;
}

async function refreshHealth() {
  const badge = $("health");
  try {
    const resp = await fetch("/readyz");
    const body = await resp.json();
    badge.textContent = resp.ok ? "ready" : "not ready: " + (body.error || resp.status);
    badge.className = "badge " + (resp.ok ? "ok" : "bad");
  } catch (_) {
    badge.textContent = "unreachable";
    badge.className = "badge bad";
  }
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

// ---- topics: at most shownTopics rows, so that 10,000 topics stay quick

const shownTopics = 200;
let topics = [];
let shownKey = "";

async function refreshTopics() {
  try {
    const resp = await fetch("/topics", { headers: authHeaders() });
    if (resp.status === 401 || resp.status === 403) {
      const body = await resp.json().catch(() => ({}));
      showTokenForm(body.error || "a token is needed to list topics");
      topics = [];
    } else if (resp.ok) {
      topics = await resp.json();
    }
  } catch (_) {
    return;
  }
  renderTopics();
}

function renderTopics() {
  const filter = $("filter").value.trim();
  const matching = filter ? topics.filter((t) => t.topic.includes(filter)) : topics;
  const shown = matching
    .slice()
    .sort((a, b) => b.subscribers - a.subscribers || (a.topic < b.topic ? -1 : 1))
    .slice(0, shownTopics);
  $("topic-count").textContent = `(${fmt.format(topics.length)})`;
  $("topics-more").textContent = matching.length > shown.length
    ? `${fmt.format(matching.length - shown.length)} more: filter to narrow` : "";
  const key = JSON.stringify(shown);
  if (key === shownKey) return; // nothing changed: leave the DOM alone
  shownKey = key;
  const rows = shown.map((t) => {
    const tr = document.createElement("tr");
    tr.tabIndex = 0;
    tr.dataset.topic = t.topic;
    tr.append(cell(t.topic), cell(fmt.format(t.subscribers)), cell(fmt.format(t.retained)), cell(t.last_id || ""), cell(t.closed ? "closed" : "open"));
    return tr;
  });
  $("topics").tBodies[0].replaceChildren(...rows);
}

$("filter").oninput = renderTopics;
function inspectRow(e) {
  const tr = e.target.closest("tr[data-topic]");
  if (!tr || (e.type === "keydown" && e.key !== "Enter")) return;
  const f = $("tail");
  f.topic.value = tr.dataset.topic;
  f.from.value = "earliest";
  startTail();
  $("inspector").scrollIntoView({ behavior: "smooth" });
}
$("topics").addEventListener("click", inspectRow);
$("topics").addEventListener("keydown", inspectRow);

// ---- inspector: a fetch stream parsed here, so that every event type,
// the hub's gap and close included, is seen, and the token goes in a
// header rather than a cookie.

const maxRows = 500;
let tail; // AbortController of the running tail
let pending = [];

function queueRow(e, cls) {
  pending.push([e, cls]);
  if (pending.length === 1) requestAnimationFrame(flushRows);
}

function flushRows() {
  const tbody = $("events").tBodies[0];
  const rows = pending.splice(0).map(([e, cls]) => {
    const tr = document.createElement("tr");
    if (cls) tr.className = cls;
    tr.append(cell(e.id), cell(e.type), cell(e.data, "data"));
    return tr;
  });
  tbody.prepend(...rows.reverse());
  while (tbody.rows.length > maxRows) tbody.deleteRow(-1);
}

// readEvents parses an event stream as the HTML standard does.
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "", data = [], type = "", id = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let m;
    while ((m = /\r\n|\r|\n/.exec(buf)) && !(m[0] === "\r" && m.index === buf.length - 1)) {
      const line = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      if (line === "") {
        if (data.length) onEvent({ id, type: type || "message", data: data.join("\n") });
        data = []; type = "";
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? "" : line.slice(colon + 1);
      if (val.startsWith(" ")) val = val.slice(1);
      if (field === "data") data.push(val);
      else if (field === "event") type = val;
      else if (field === "id" && !val.includes("\0")) id = val;
    }
  }
}

async function startTail() {
  syncIdField();
  stopTail();
  const f = $("tail");
  const params = new URLSearchParams();
  for (const t of f.topic.value.split(",").map((s) => s.trim()).filter(Boolean)) params.append("topic", t);
  if (f.from.value === "earliest") params.set("last_event_id", "earliest");
  if (f.from.value === "id" && f.id.value.trim()) params.set("last_event_id", f.id.value.trim());
  $("events").tBodies[0].replaceChildren();
  const state = $("tailstate");
  tail = new AbortController();
  $("tail-stop").disabled = false;
  state.textContent = "connecting…";
  try {
    const resp = await fetch("/events?" + params, { headers: authHeaders({ Accept: "text/event-stream" }), signal: tail.signal });
    if (resp.status === 204) {
      state.textContent = "ended: the topics are closed";
      return;
    }
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      state.textContent = `refused (${resp.status}): ${body.error || ""}`;
      if (resp.status === 401 || resp.status === 403) showTokenForm();
      return;
    }
    state.textContent = "tailing " + params.getAll("topic").join(", ");
    document.body.dataset.tail = "open";
    await readEvents(resp.body, (e) => {
      const cls = e.type === "gap" ? "gap" : e.type === "close" ? "close" : "";
      queueRow(e, cls);
      f.id.value = e.id;
      if (e.type === "close") state.textContent = "ended: the topics were closed";
    });
    if (!state.textContent.startsWith("ended")) state.textContent = "the stream ended";
  } catch (err) {
    if (err.name !== "AbortError") state.textContent = "disconnected: " + err.message;
  } finally {
    $("tail-stop").disabled = true;
    document.body.dataset.tail = "stopped";
  }
}

function stopTail() {
  if (tail) tail.abort();
  tail = undefined;
}

// The id is asked for only when the tail starts after one.
function syncIdField() {
  const f = $("tail");
  f.id.disabled = f.from.value !== "id";
  f.id.required = !f.id.disabled;
}
$("tail").from.onchange = syncIdField;
$("tail").onsubmit = (e) => { e.preventDefault(); startTail(); };
$("tail-stop").onclick = () => { stopTail(); $("tailstate").textContent = "stopped; resume from the id shown"; $("tail").from.value = "id"; syncIdField(); };

// ---- the subscribe snippets, for the inspector's topics

// js quotes s as a JavaScript string literal.
const js = (s) => JSON.stringify(s);
// html escapes s for an attribute value.
const attr = (s) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

function renderSubscribe() {
  const topics = $("tail").topic.value.split(",").map((s) => s.trim()).filter(Boolean);
  const q = (topics.length ? topics : ["TOPIC"]).map((t) => "topic=" + encodeURIComponent(t)).join("&");
  const url = location.origin + "/events?" + q;
  $("sub-eventsource").textContent = [
    `const source = new EventSource(${js(url)});`,
    `source.onmessage = (e) => {`,
    `  const li = document.createElement("li");`,
    `  li.textContent = e.data; // as text: markup in the data never runs`,
    `  document.getElementById("events").append(li);`,
    `};`,
    `source.addEventListener("close", () => source.close()); // the topics ended`,
  ].join("\n");
  $("sub-htmx").textContent = `<div hx-ext="sse" sse-connect="${attr(url)}" sse-swap="message" sse-close="close" hx-swap="beforeend"></div>`;
  $("sub-curl").textContent = (token ? `curl -N -H "Authorization: Bearer $HERD_TOKEN" ` : "curl -N ") + sq(url);
}
$("tail").topic.addEventListener("input", renderSubscribe);

// ---- publish playground, and the same publish as commands

// sq quotes s for a POSIX shell: inside single quotes nothing is special
// but the quote itself, written '\''. Any data, "$(id)", backticks,
// newlines or "--close", reaches the command as it is.
const sq = (s) => "'" + s.replace(/'/g, "'\\''") + "'";

function publishForm() {
  const f = $("pub");
  return {
    topics: f.topic.value.split(",").map((s) => s.trim()).filter(Boolean),
    data: f.data.value, event: f.event.value.trim(), key: f.key.value.trim(),
    private: f.private.checked, close: f.close.checked,
  };
}

// commands returns the publish p as a curl and a herd pub command for a
// POSIX shell, each publishing exactly p whatever its strings hold.
function commands(p, origin, withToken) {
  const hasData = !(p.close && p.data === "");
  // curl: --data-urlencode "name=content" encodes every byte of content.
  const curl = ["curl"];
  if (withToken) curl.push(`-H "Authorization: Bearer $HERD_TOKEN"`);
  if (p.key) curl.push("-H " + sq("Idempotency-Key: " + p.key));
  for (const t of p.topics) curl.push("--data-urlencode " + sq("topic=" + t));
  if (hasData) curl.push("--data-urlencode " + sq("data=" + p.data));
  if (p.event) curl.push("--data-urlencode " + sq("event=" + p.event));
  if (p.private) curl.push("-d private=true");
  if (p.close) curl.push("-d close=true");
  curl.push(sq(origin + "/events"));
  // herd pub: "--" ends the flags, so that data "--close" is data. Data
  // "-" would mean stdin, so it is given there.
  const herd = ["herd pub --hub " + sq(origin)];
  if (withToken) herd.push(`--key "$HERD_TOKEN"`);
  if (p.event) herd.push("--event " + sq(p.event));
  if (p.private) herd.push("--private");
  if (p.close) herd.push("--close");
  if (p.key) herd.push("--idempotency-key " + sq(p.key));
  for (const t of p.topics.slice(1)) herd.push("--topic " + sq(t));
  herd.push("--", sq(p.topics[0] || "TOPIC"));
  let prefix = "";
  if (hasData && p.data === "-") {
    prefix = "printf '%s' '-' | ";
    herd.push("-");
  } else if (hasData) {
    herd.push(sq(p.data));
  }
  return { curl: curl.join(" \\\n  "), herd: prefix + herd.join(" ") };
}

function renderCommands() {
  const c = commands(publishForm(), location.origin, token !== "");
  $("as-curl").textContent = c.curl;
  $("as-herd").textContent = c.herd;
}

$("pub").oninput = renderCommands;
$("pub").onsubmit = async (e) => {
  e.preventDefault();
  const p = publishForm();
  const body = { topic: p.topics, close: p.close, private: p.private };
  if (!(p.close && p.data === "")) body.data = p.data;
  if (p.event) body.event = p.event;
  const headers = authHeaders({ "Content-Type": "application/json" });
  if (p.key) headers["Idempotency-Key"] = p.key;
  const state = $("pubstate");
  try {
    const resp = await fetch("/events", { method: "POST", headers, body: JSON.stringify(body) });
    const answer = await resp.json().catch(() => ({}));
    state.textContent = resp.ok
      ? `published ${answer.id}${resp.headers.get("Idempotent-Replayed") ? " (an earlier publish with this key)" : ""}`
      : `refused (${resp.status}): ${answer.error || ""}`;
    state.classList.toggle("error", !resp.ok);
    if (resp.status === 401 || resp.status === 403) showTokenForm();
    // A closed topic takes no events until it is reopened: offer it.
    $("reopen").hidden = resp.status !== 409;
    refreshTopics();
  } catch (err) {
    state.textContent = "failed: " + err.message;
    state.classList.add("error");
  }
};

$("reopen").onclick = async () => {
  const state = $("pubstate");
  const body = new URLSearchParams();
  for (const t of publishForm().topics) body.append("topic", t);
  try {
    const resp = await fetch("/topics/reopen", { method: "POST", headers: authHeaders(), body });
    const answer = await resp.json().catch(() => ({}));
    state.classList.toggle("error", !resp.ok);
    state.textContent = resp.ok
      ? `reopened ${Object.keys(answer.reopened).join(", ") || "nothing (the topics were open)"}: publish again`
      : `refused (${resp.status}): ${answer.error || ""}`;
    $("reopen").hidden = resp.ok;
    refreshTopics();
  } catch (err) {
    state.textContent = "failed: " + err.message;
    state.classList.add("error");
  }
};

renderCommands();
renderSubscribe();
syncIdField();
refreshHealth();
refreshStats();
refreshTopics();
setInterval(refreshStats, 1000);
setInterval(refreshHealth, 5000);
setInterval(refreshTopics, 2000);
