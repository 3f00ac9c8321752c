// fakescope's page: upload, poll the job, show verdict, timeline and faces. No framework, no CDN.
"use strict";

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("fakescope-token") || "";

function headers() {
  return token ? { Authorization: "Bearer " + token } : {};
}

function withToken(url) {
  return token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (response.status === 401) {
    $("token").hidden = false;
    $("token-label").hidden = false;
    throw new Error("This server needs an access token: enter it and try again.");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response.status === 204 ? null : response.json();
}

function say(text) { $("status").textContent = text; }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function fmt(x, digits = 3) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }

function showVerdict(job) {
  const r = job.result;
  const card = $("verdict-card");
  card.replaceChildren();
  if (!r) {
    card.append(el("p", { class: "verdict error", id: "verdict" }, "FAILED"),
                el("p", {}, job.error || "the scan failed"));
    return;
  }
  card.append(el("p", { class: "verdict " + r.verdict, id: "verdict" }, r.verdict.toUpperCase()));
  if (r.score !== null) {
    card.append(el("p", { id: "score" }, `score ${fmt(r.score)} against threshold ${fmt(r.threshold)}`
      + (r.verdict === "fake" ? " — at or above: flagged as manipulated" : " — below: not flagged")));
  }
  if (r.reason) card.append(el("p", { id: "reason" }, "reason: " + r.reason));
  if (r.frames_unreadable) {
    card.append(el("p", {}, `${r.frames_unreadable} of ${r.frames_unreadable + r.frames_read} sampled frames could not be decoded`));
  }
  const d = r.detector || {};
  card.append(el("p", { class: "meta" }, `${job.filename} · ${r.kind || "?"} · detector ${d.name || "?"} v${d.version || "?"} · weights ${(d.weights_sha256 || "").slice(0, 16)}… · sha256 ${(r.sha256 || "").slice(0, 16)}…`));
}

function showTimeline(result) {
  const box = $("timeline");
  box.replaceChildren();
  const points = (result && result.timeline) || [];
  if (points.length < 2) {
    box.append(el("p", {}, points.length ? "one frame scored (an image or a very short clip)" : "no frame with a face"));
    return;
  }
  const W = 800, H = 180, P = 28;
  const t0 = points[0].time_s, t1 = points[points.length - 1].time_s || 1;
  const x = (t) => P + (W - 2 * P) * (t - t0) / Math.max(t1 - t0, 1e-6);
  const y = (s) => H - P - (H - 2 * P) * s;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `fake probability over ${points.length} sampled frames, from ${fmt(t0, 1)} s to ${fmt(t1, 1)} s`);
  svg.id = "timeline-svg";
  const add = (tag, attrs) => { const n = document.createElementNS(ns, tag); for (const k in attrs) n.setAttribute(k, attrs[k]); svg.append(n); return n; };
  add("line", { x1: P, y1: y(result.threshold), x2: W - P, y2: y(result.threshold), stroke: "#a40e0e", "stroke-dasharray": "6 4" });
  add("polyline", { points: points.map((p) => `${x(p.time_s)},${y(p.score)}`).join(" "), fill: "none", stroke: "#0b57d0", "stroke-width": 2 });
  for (const p of points) add("circle", { cx: x(p.time_s), cy: y(p.score), r: 3, fill: "#0b57d0" });
  for (const [s, label] of [[0, "0"], [1, "1"]]) { const t = add("text", { x: 2, y: y(s) + 4, "font-size": 12 }); t.textContent = label; }
  const a = add("text", { x: P, y: H - 6, "font-size": 12 }); a.textContent = `${fmt(t0, 1)} s`;
  const b = add("text", { x: W - P - 30, y: H - 6, "font-size": 12 }); b.textContent = `${fmt(t1, 1)} s`;
  box.append(svg);
}

function showFaces(job) {
  const box = $("faces");
  box.replaceChildren();
  const tracks = (job.result && job.result.tracks) || [];
  if (!tracks.length) { box.append(el("p", {}, "no face was scored")); return; }
  for (const t of tracks) {
    const strip = el("div", { class: "strip" });
    const mine = job.artefacts.filter((a) => a.split("/").pop().startsWith(`track${t.id}_`));
    for (const name of mine) {
      const img = el("img", { src: withToken(`/api/scans/${job.id}/artefacts/${name}`),
        alt: `person ${t.id + 1}: the most suspicious face, with the regions the detector relied on highlighted` });
      const score = (name.match(/_p([0-9.]+)\.png$/) || [])[1];
      const frame = (name.match(/_frame0*(\d+)_/) || [])[1];
      strip.append(el("figure", {}, img, el("figcaption", {}, `frame ${frame || "?"}, score ${score || "?"}`)));
    }
    const scores = t.scores.map((s) => fmt(s, 2)).join(" ");
    box.append(el("div", { class: "person" },
      el("h4", {}, `Person ${t.id + 1}: score ${fmt(t.score)} over ${t.frames.length} frame(s)`),
      strip, el("p", { class: "meta" }, "per-frame scores: " + scores)));
  }
}

function showJob(job) {
  $("result").hidden = false;
  showVerdict(job);
  showTimeline(job.result);
  showFaces(job);
  const blob = new Blob([JSON.stringify(job.result, null, 2)], { type: "application/json" });
  $("download").href = URL.createObjectURL(blob);
}

async function poll(id) {
  const bar = $("progress");
  bar.hidden = false;
  for (;;) {
    const job = await api(`/api/scans/${id}`);
    if (job.status === "queued") { say("Waiting for a free scanner…"); bar.removeAttribute("value"); }
    if (job.status === "running") { say("Scanning: finding faces and scoring them…"); bar.removeAttribute("value"); }
    if (job.status === "done" || job.status === "failed") {
      bar.value = 1;
      say(job.status === "done" ? "Done." : "The scan failed.");
      showJob(job);
      loadHistory();
      return job;
    }
    await new Promise((r) => setTimeout(r, 700));
  }
}

async function upload(file) {
  const form = new FormData();
  form.append("file", file);
  const sampling = $("sampling").value;
  if (sampling) form.append("sampling", sampling);
  $("submit").disabled = true;
  say(`Uploading ${file.name}…`);
  try {
    const { id } = await api("/api/scans", { method: "POST", body: form });
    await poll(id);
  } catch (e) {
    say(e.message);
  } finally {
    $("submit").disabled = false;
  }
}

async function loadHistory() {
  try {
    const page = await api("/api/scans?limit=20");
    const list = $("history");
    list.replaceChildren();
    for (const job of page.items) {
      const verdict = job.result ? job.result.verdict : job.status;
      const button = el("button", { type: "button" }, `${job.filename} — ${verdict}`);
      button.addEventListener("click", () => poll(job.id));
      list.append(el("li", {}, button));
    }
  } catch (e) { /* the history is a convenience; the status line reports real errors */ }
}

$("upload-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value || token;
  if (token) sessionStorage.setItem("fakescope-token", token);
  const file = $("file").files[0];
  if (!file) { say("Choose a file first."); return; }
  upload(file);
});

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) { $("file").files = e.dataTransfer.files; upload(e.dataTransfer.files[0]); }
});

loadHistory();
