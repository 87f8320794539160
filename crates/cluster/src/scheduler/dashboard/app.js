// The wasmdask dashboard: draws the scheduler's JSON snapshot, first fetched once, then pushed
// every second over server-sent events. URLs are relative so the page works under a prefix.
"use strict";

const $ = (id) => document.getElementById(id);
let updates = 0;

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function millis(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1) return (ms * 1000).toFixed(0) + " µs";
  if (ms < 1000) return ms.toFixed(ms < 10 ? 2 : 0) + " ms";
  return (ms / 1000).toFixed(2) + " s";
}

function time(unixMs) {
  return new Date(unixMs).toLocaleTimeString();
}

// A stable color per function name, never red (red marks failures).
function color(name) {
  let h = 7;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${40 + ((h * 137.508) % 260)}, 60%, 48%)`;
}

function rows(tbody, html) {
  $(tbody).querySelector("tbody").innerHTML = html.join("");
}

function outputBlock(output) {
  if (!output) return "";
  const parts = [];
  if (output.logs && output.logs.length) parts.push(output.logs.map((l) => `[${l.level}] ${l.message}`).join("\n"));
  if (output.stdout) parts.push("stdout:\n" + output.stdout);
  if (output.stderr) parts.push("stderr:\n" + output.stderr);
  if (output.truncated) parts.push("(older output was cut)");
  return parts.length ? `<details><summary>guest output</summary><pre>${esc(parts.join("\n"))}</pre></details>` : "";
}

function drawStream(s) {
  const names = s.workers.map((w) => w.name);
  for (const e of s.stream) if (!names.includes(e.worker)) names.push(e.worker);
  const width = 1000, lane = 22, top = 16, windowMs = 60000;
  const height = top + Math.max(1, names.length) * lane + 4;
  const x = (t) => ((t - (s.now_unix_ms - windowMs)) / windowMs) * width;
  const parts = [`<svg viewBox="0 0 ${width} ${height}" preserveAspectRatio="none" height="${height}">`];
  for (let sec = 0; sec <= 60; sec += 10) {
    const px = x(s.now_unix_ms - sec * 1000);
    parts.push(`<line x1="${px}" x2="${px}" y1="${top - 4}" y2="${height}" stroke="#e3e6eb"/>`);
    parts.push(`<text x="${Math.max(2, px - 14)}" y="11" font-size="10" fill="#6b7280">-${sec}s</text>`);
  }
  names.forEach((name, i) => {
    parts.push(`<text x="4" y="${top + i * lane + 15}" font-size="11" fill="#6b7280">${esc(name)}</text>`);
  });
  for (const e of s.stream) {
    const lane_i = names.indexOf(e.worker);
    const x0 = x(e.started_unix_ms);
    const w = Math.max(1.5, (e.duration_us / 1000 / windowMs) * width);
    if (x0 + w < 0) continue;
    const fill = e.outcome === "ok" ? color(e.function) : "#c0392b";
    parts.push(`<rect x="${x0}" y="${top + lane_i * lane + 3}" width="${w}" height="${lane - 6}" fill="${fill}"><title>${esc(e.function)} on ${esc(e.worker)}: ${millis(e.duration_us / 1000)}, ${esc(e.outcome)}</title></rect>`);
  }
  parts.push("</svg>");
  $("stream").innerHTML = parts.join("");
}

function render(s) {
  const t = s.tasks;
  $("workers-count").textContent = s.workers.length;
  $("waiting").textContent = t.waiting;
  $("queued").textContent = t.queued;
  $("processing").textContent = t.processing;
  $("completed").textContent = t.completed;
  $("erred").textContent = t.erred;
  $("held").textContent = `${t.held_keys} / ${bytes(t.held_bytes)}`;
  $("recomputed").textContent = t.recomputed;
  $("clients").textContent = s.clients;
  $("instantiate").textContent = `${millis(s.sandbox.instantiate_p50_ms)} / ${millis(s.sandbox.instantiate_p99_ms)}`;
  $("cache").textContent = `${s.sandbox.cache_hits} / ${s.sandbox.cache_misses}`;
  $("comm").textContent = `${bytes(s.comm.received_bytes)} / ${bytes(s.comm.sent_bytes)}`;
  $("clock").textContent = time(s.now_unix_ms);

  rows("workers", s.workers.map((w) => {
    const pct = Math.min(100, (100 * w.busy) / Math.max(1, w.nthreads));
    const d = w.data;
    const heldPct = Math.min(100, (100 * d.memory_bytes) / Math.max(1, w.memory_limit));
    const moved = `fetched ${d.fetches} values in ${d.fetch_seconds.toFixed(2)} s; served ${bytes(d.served_bytes)}; ` +
      `spilled ${d.spills} times, read back ${d.unspills}`;
    return `<tr><td>${esc(w.name)}</td>` +
      `<td><span class="bar"><span style="width:${pct}%"></span></span>${w.busy} / ${w.nthreads}</td>` +
      `<td class="num">${w.processing}</td>` +
      `<td title="${d.memory_keys} results in memory"><span class="bar"><span style="width:${heldPct}%"></span></span>${bytes(d.memory_bytes)}</td>` +
      `<td title="${d.spilled_keys} results on disk">${bytes(d.spilled_bytes)}</td>` +
      `<td title="${moved}">${bytes(d.fetched_bytes)} / ${d.fetches}</td>` +
      `<td>${bytes(w.memory_limit)}</td>` +
      `<td class="num">${w.done}</td><td>${(w.last_heartbeat_ms_ago / 1000).toFixed(1)} s ago</td></tr>`;
  }));

  drawStream(s);
  rows("recent", s.stream.slice().reverse().map((e) =>
    `<tr><td>${time(e.started_unix_ms)}</td><td>${esc(e.worker)}</td><td>${esc(e.function)}</td>` +
    `<td class="num">${millis(e.duration_us / 1000)}</td>` +
    `<td class="${e.outcome === "ok" ? "outcome-ok" : "outcome-bad"}">${esc(e.outcome)}${outputBlock(e.output)}</td></tr>`));

  rows("functions", s.functions.map((f) =>
    `<tr><td><span style="color:${color(f.function)}">■</span> ${esc(f.function)}</td>` +
    `<td class="num">${f.executions}</td><td class="num">${f.errors}</td><td class="num">${millis(f.mean_ms)}</td>` +
    `<td class="num">${millis(f.p50_ms)}</td><td class="num">${millis(f.p90_ms)}</td><td class="num">${millis(f.p99_ms)}</td></tr>`));

  $("errors").innerHTML = s.errors.length === 0 ? '<p class="muted">none</p>' : s.errors.slice().reverse().map((e) =>
    `<div class="error"><div class="head">${esc(e.function)} <span class="muted">on ${esc(e.worker || "?")} at ${time(e.unix_ms)}</span> <span class="outcome-bad">${esc(e.kind)}</span></div>` +
    `<div class="msg">${esc(e.message)}</div>` +
    (e.detail ? `<details><summary>backtrace / evidence</summary><pre>${esc(e.detail)}</pre></details>` : "") +
    outputBlock(e.output) + "</div>").join("");
}

function connect() {
  const events = new EventSource("api/events");
  events.addEventListener("snapshot", (message) => {
    updates += 1;
    $("updates").textContent = updates;
    $("status").textContent = "live";
    $("status").className = "status live";
    render(JSON.parse(message.data));
  });
  events.onerror = () => {
    $("status").textContent = "reconnecting…";
    $("status").className = "status offline";
  };
}

fetch("api/dashboard").then((r) => r.json()).then(render).catch(() => {});
connect();
