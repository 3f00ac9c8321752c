// fakescope's page: a queue of uploads, then for the chosen job the verdict band and its
// sentence, the file playing with the score timeline under it (a point seeks there and boxes
// that frame's faces), each person's crop beside its explanation overlay, the panel's scores,
// the file's facts and provenance, the report and JSON downloads. No framework, no CDN; nothing
// inline (the server's CSP forbids it).
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let token = sessionStorage.getItem("fakescope-token") || "";
let shown = null;  // the job on display
let pinned = false;  // the user chose a job: finishing uploads do not replace it

function headers() { return token ? { Authorization: "Bearer " + token } : {}; }

function withToken(url) {
  return token ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : url;
}

async function request(path, options = {}) {
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
  return response;
}

async function api(path, options = {}) {
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

function say(text) { $("status").textContent = text; }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function fmt(x, digits = 3) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }
function pct(x) { return x === null || x === undefined ? "–" : Math.round(100 * x) + " %"; }

// ------------------------------------------------------------------ verdict

const BAND_TEXT = {  // for records stored before the server wrote `explanation`
  fake: "Flagged as manipulated.",
  inconclusive: "Inconclusive — a person should look.",
  real: "No sign of manipulation found; not proof that it is authentic.",
  abstain: "No verdict.",
  error: "No verdict: the scan failed.",
};

function showVerdict(job) {
  const r = job.result;
  const card = $("verdict-card");
  card.replaceChildren();
  if (!r) {
    card.className = "card band error";
    card.append(el("p", { class: "verdict", id: "verdict" }, "FAILED"),
                el("p", { id: "explanation" }, job.error || "the scan failed"));
    return;
  }
  card.className = "card band " + r.verdict;
  card.append(el("p", { class: "verdict", id: "verdict" }, r.verdict.toUpperCase()),
              el("p", { id: "explanation" }, r.explanation || BAND_TEXT[r.verdict] || ""));
  if (r.score !== null) {
    const parts = [`score ${fmt(r.score)}`];
    if (r.probability !== null && r.probability !== undefined) parts.push(`calibrated probability of manipulation ${pct(r.probability)}`);
    parts.push(`fake at or above ${fmt(r.threshold)}`);
    if (r.inconclusive_threshold !== null && r.inconclusive_threshold !== undefined) parts.push(`inconclusive from ${fmt(r.inconclusive_threshold)}`);
    card.append(el("p", { id: "score" }, parts.join(" · ")));
  }
  if (r.reason) card.append(el("p", { id: "reason" }, "reason: " + r.reason));
  const d = r.detector || {};
  card.append(el("p", { class: "meta" }, `${job.filename} · detector ${d.name || "?"} v${d.version || "?"} · weights sha256 ${d.weights_sha256 || "?"}`));
}

// ------------------------------------------------------------------ media, boxes, timeline

function facesAt(r, frame) {
  const out = [];
  for (const t of r.tracks || []) {
    const i = t.frames.indexOf(frame);
    if (i < 0) continue;
    const perCrop = !t.units && t.scores.length === t.frames.length;
    out.push({ box: t.boxes[i], score: perCrop ? t.scores[i] : t.score, id: t.id });
  }
  return out;
}

function drawBoxes(r, point) {
  const layer = $("boxes");
  if (!layer) return;
  layer.replaceChildren();
  if (!point) { $("frame-caption").textContent = ""; return; }
  const faces = facesAt(r, point.frame);
  const m = r.media || {};
  const size = Math.max(m.width || 0, m.height || 0) / 30;  // ~16 px whatever the file's size
  for (const f of faces) {
    const [x0, y0, x1, y1] = f.box;
    layer.append(svg("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, class: "facebox" }));
    const label = svg("text", { x: x0, y: Math.max(size, y0 - size / 3), class: "facelabel", "font-size": size });
    label.textContent = `person ${f.id + 1}: ${fmt(f.score, 2)}`;
    layer.append(label);
  }
  $("frame-caption").textContent = `Sampled frame ${point.frame} at ${fmt(point.time_s, 2)} s: ` +
    (faces.map((f) => `person ${f.id + 1} scores ${fmt(f.score, 2)}`).join(", ") || "no scored face");
  for (const c of document.querySelectorAll("#timeline-svg .point")) {
    c.classList.toggle("current", Number(c.dataset.frame) === point.frame);
  }
}

function nearestPoint(r, t) {
  const pts = r.timeline || [];
  let best = null;
  for (const p of pts) if (!best || Math.abs(p.time_s - t) < Math.abs(best.time_s - t)) best = p;
  const fps = (r.media && r.media.fps) || 25;
  return best && Math.abs(best.time_s - t) <= 1.5 / fps ? best : null;
}

function showViewer(job) {
  const box = $("viewer");
  box.replaceChildren();
  const r = job.result;
  const m = (r && r.media) || {};
  if (!r || !r.kind) { box.append(el("p", { class: "meta" }, "The file could not be read, so there is nothing to show.")); return; }
  if (!m.width) { box.append(el("p", { class: "meta" }, "This record was made before the page kept the file's size, so its frames are not shown.")); return; }
  const src = withToken(`/api/scans/${job.id}/input`);
  const stage = el("div", { class: "stage" });
  const media = r.kind === "video"
    ? el("video", { id: "player", src, controls: "", preload: "metadata", playsinline: "" })
    : el("img", { id: "player", src, alt: `${job.filename}, the scanned image` });
  const layer = svg("svg", { id: "boxes", viewBox: `0 0 ${m.width} ${m.height}`, "aria-hidden": "true" });
  stage.append(media, layer);
  box.append(stage);
  if (r.kind === "video") {
    media.addEventListener("timeupdate", () => drawBoxes(r, nearestPoint(r, media.currentTime)));
    media.addEventListener("seeked", () => drawBoxes(r, nearestPoint(r, media.currentTime)));
    media.addEventListener("error", () => box.append(el("p", { class: "meta", id: "cannot-play" },
      "This browser cannot play this file's format: the boxes of each sampled frame are listed as you choose points on the timeline.")));
  }
  const pts = r.timeline || [];
  if (!pts.length) return;
  const top = pts.reduce((a, b) => (b.score > a.score ? b : a));  // open on the most suspicious frame
  if (r.kind === "video") media.addEventListener("loadedmetadata", () => seek(r, top), { once: true });
  else drawBoxes(r, top);
}

function seek(r, point) {
  const player = $("player");
  if (player && player.tagName === "VIDEO") {
    player.pause();
    player.currentTime = point.time_s + 0.001;
  }
  drawBoxes(r, point);
}

function showTimeline(r) {
  const box = $("timeline");
  box.replaceChildren();
  const points = (r && r.timeline) || [];
  if (points.length < 2) {
    box.append(el("p", { class: "meta" }, points.length ? "One frame scored (an image or a very short clip)." : "No frame with a face."));
    return;
  }
  const W = 800, H = 180, P = 30;
  const t0 = points[0].time_s, t1 = points[points.length - 1].time_s;
  const x = (t) => P + (W - 2 * P) * (t - t0) / Math.max(t1 - t0, 1e-6);
  const y = (s) => H - P - (H - 2 * P) * s;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, id: "timeline-svg", role: "group",
    "aria-label": `score over ${points.length} sampled frames, from ${fmt(t0, 1)} s to ${fmt(t1, 1)} s; choose a point to see that frame` });
  for (const [edge, label] of [[r.threshold, "fake"], [r.inconclusive_threshold, "inconclusive"]]) {
    if (edge === null || edge === undefined) continue;
    chart.append(svg("line", { x1: P, y1: y(edge), x2: W - P, y2: y(edge), class: "edge " + label }));
    const t = svg("text", { x: W - P - 4, y: y(edge) - 4, "text-anchor": "end", class: "axis" });
    t.textContent = label === "fake" ? `fake ≥ ${fmt(edge, 2)}` : `inconclusive ≥ ${fmt(edge, 2)}`;
    chart.append(t);
  }
  chart.append(svg("polyline", { points: points.map((p) => `${x(p.time_s)},${y(p.score)}`).join(" "), class: "trace" }));
  points.forEach((p, i) => {
    const c = svg("circle", { cx: x(p.time_s), cy: y(p.score), r: 6, class: "point", tabindex: "0",
      role: "button", "data-frame": p.frame, "data-time": p.time_s,
      "aria-label": `frame ${p.frame} at ${fmt(p.time_s, 2)} s, score ${fmt(p.score, 2)}` });
    c.addEventListener("click", () => seek(r, p));
    c.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); seek(r, p); }
      const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      const next = chart.querySelectorAll(".point")[i + step];
      if (step && next) { e.preventDefault(); next.focus(); }
    });
    chart.append(c);
  });
  for (const [s, label] of [[0, "0"], [1, "1"]]) { const t = svg("text", { x: 4, y: y(s) + 4, class: "axis" }); t.textContent = label; chart.append(t); }
  const a = svg("text", { x: P, y: H - 8, class: "axis" }); a.textContent = `${fmt(t0, 1)} s`;
  const b = svg("text", { x: W - P, y: H - 8, "text-anchor": "end", class: "axis" }); b.textContent = `${fmt(t1, 1)} s`;
  chart.append(a, b);
  box.append(chart);
}

// ------------------------------------------------------------------ people, panel, facts

function showFaces(job) {
  const box = $("faces");
  box.replaceChildren();
  const r = job.result;
  const tracks = (r && r.tracks) || [];
  if (!tracks.length) { box.append(el("p", { class: "meta" }, "No face was scored.")); return; }
  for (const t of tracks) {
    const person = el("div", { class: "person" },
      el("h4", {}, `Person ${t.id + 1}: score ${fmt(t.score)} over ${t.frames.length} sampled frame(s)`));
    const overlays = job.artefacts.filter((a) => /(^|\/)track\d+_/.test(a) && a.split("/").pop().startsWith(`track${t.id}_`));
    for (const name of overlays) {
      const frame = Number((name.match(/_frame0*(\d+)_/) || [])[1]);
      const score = (name.match(/_p([0-9.]+)\.png$/) || [])[1];
      const cropName = name.replace(/track(\d+)_frame(\d+)_p[0-9.]+\.png$/, "crop_track$1_frame$2.png");
      const pair = el("div", { class: "pair" });
      if (job.artefacts.includes(cropName)) {
        pair.append(el("figure", {}, el("img", { src: withToken(`/api/scans/${job.id}/artefacts/${cropName}`),
          alt: `person ${t.id + 1}, frame ${frame}: the face as the detector saw it`, class: "crop" }),
          el("figcaption", {}, "the face as the detector saw it")));
      }
      pair.append(el("figure", {}, el("img", { src: withToken(`/api/scans/${job.id}/artefacts/${name}`),
        alt: `person ${t.id + 1}, frame ${frame}: the regions the detector relied on, highlighted`, class: "overlay" }),
        el("figcaption", {}, `where it looked (red: most) — frame ${frame}, score ${score || "?"}`)));
      const point = (r.timeline || []).find((p) => p.frame === frame);
      if (point && r.kind === "video") {
        const go = el("button", { type: "button", class: "link" }, `Show frame ${frame} in the video`);
        go.addEventListener("click", () => seek(r, point));
        pair.append(go);
      }
      person.append(pair);
    }
    if (!overlays.length) person.append(el("p", { class: "meta" }, "No explanation overlay for this person."));
    box.append(person);
  }
}

function showMembers(r) {
  const box = $("members");
  box.replaceChildren();
  const members = r && r.members;
  if (!members || typeof members !== "object" || !Object.keys(members).length) return;
  const table = el("table", { class: "members", id: "members-table" },
    el("caption", {}, "Each detector of the panel"),
    el("tr", {}, el("th", { scope: "col" }, "detector"), el("th", { scope: "col" }, "score"), el("th", { scope: "col" }, "")));
  for (const [name, value] of Object.entries(members)) {
    const score = value !== null && typeof value === "object" ? value.score : value;
    const bar = el("span", { class: "bar" });
    bar.style.width = `${Math.max(0, Math.min(1, Number(score) || 0)) * 100}%`;
    table.append(el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, fmt(score)), el("td", { class: "barcell" }, bar)));
  }
  box.append(el("h3", {}, "Panel"), table);
}

function rows(pairs) {
  const table = el("table", { class: "facts" });
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    table.append(el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, String(v))));
  }
  return table;
}

function showFacts(r) {
  const m = (r && r.media) || {};
  $("facts").replaceChildren(rows([
    ["kind", r && r.kind], ["format", m.format],
    ["resolution", m.width ? `${m.width} × ${m.height}` : null],
    ["duration", m.duration_s ? `${fmt(m.duration_s, 2)} s` : null],
    ["frame rate", m.fps ? `${fmt(m.fps, 2)} fps` : null], ["codec", m.codec],
    ["size", m.bytes ? `${m.bytes} bytes` : null], ["sha256", r && r.sha256],
    ["sampled frames decoded", r && r.frames_read], ["sampled frames unreadable", r && r.frames_unreadable],
  ]));
}

function showProvenance(r) {
  const box = $("provenance");
  const p = r && r.provenance;
  if (!p) { box.replaceChildren(el("p", { class: "meta" }, "Not read for this record.")); return; }
  const c = p.c2pa || {};
  const pairs = [];
  if (c.present) {
    pairs.push(["C2PA manifest", c.valid ? (c.trusted ? "valid, trusted signer" : "valid (signer not on a trust list)") : `INVALID (${c.state || "?"})`],
      ["signer", c.signer], ["issuer", c.issuer],
      ["failed checks", (c.failures || []).filter((f) => !(c.valid && f === "signingCredential.untrusted")).join(", ")], ["claim generator", c.claim_generator],
      ["actions", (c.actions || []).map((a) => [a.action, a.source_type, a.software_agent && `by ${a.software_agent}`].filter(Boolean).join(" ")).join("; ")],
      ["generated by AI (claimed)", c.generated], ["error", c.error]);
  } else {
    pairs.push(["C2PA manifest", c.checked ? "none" : `not checked: ${c.error || "?"}`]);
  }
  const exif = p.exif;
  if (exif && Object.keys(exif).length) for (const [k, v] of Object.entries(exif)) pairs.push([`EXIF ${k}`, v]);
  else if (exif) pairs.push(["EXIF", "none"]);
  const cont = p.container || {};
  for (const [k, v] of Object.entries(cont.tags || {})) pairs.push([`container ${k}`, v]);
  if (cont.error) pairs.push(["container error", cont.error]);
  const table = rows(pairs);
  table.id = "provenance-table";
  box.replaceChildren(table, el("p", { class: "meta" }, "Shown beside the score; never changes it."));
}

// ------------------------------------------------------------------ one job, downloads

function showJob(job) {
  shown = job;
  $("result").hidden = false;
  showVerdict(job);
  showViewer(job);
  showTimeline(job.result);
  showFaces(job);
  showMembers(job.result);
  showFacts(job.result);
  showProvenance(job.result);
  const blob = new Blob([JSON.stringify(job.result, null, 2)], { type: "application/json" });
  $("download").href = URL.createObjectURL(blob);
  $("download-report").disabled = !job.result;
}

async function downloadReport() {
  if (!shown) return;
  try {
    const response = await request(`/api/scans/${shown.id}/report`);
    const name = (response.headers.get("content-disposition") || "").match(/filename="([^"]+)"/);
    const a = el("a", { href: URL.createObjectURL(await response.blob()), download: name ? name[1] : "fakescope-report.html" });
    document.body.append(a);
    a.click();
    a.remove();
    say("Report downloaded.");
  } catch (e) { say(e.message); }
}

// ------------------------------------------------------------------ the queue

const queue = [];  // {file, state, id, job, li}

function render(item) {
  const label = `${item.file.name} — ${item.state}`;
  if (item.job && (item.job.status === "done" || item.job.status === "failed")) {
    const button = el("button", { type: "button", class: "link" }, label);
    button.addEventListener("click", () => { pinned = true; showJob(item.job); });
    item.li.replaceChildren(button);
  } else {
    item.li.replaceChildren(el("span", {}, label));
  }
  item.li.className = "q-" + (item.job && item.job.result ? item.job.result.verdict : item.job ? item.job.status : "waiting");
}

function setState(item, state) { item.state = state; render(item); }

async function poll(item) {
  for (;;) {
    const job = await api(`/api/scans/${item.id}`);
    item.job = job;
    if (job.status === "queued") setState(item, "waiting for a free scanner");
    if (job.status === "running") setState(item, "scanning");
    if (job.status === "done" || job.status === "failed") {
      setState(item, job.status === "done" ? job.result.verdict.toUpperCase() : "failed: " + (job.error || "?"));
      if (!pinned) showJob(job);
      loadHistory();
      return;
    }
    await new Promise((r) => setTimeout(r, 700));
  }
}

async function runQueue(files) {
  const items = [...files].map((file) => ({ file, state: "waiting to upload", li: el("li") }));
  $("queue-title").hidden = false;
  for (const item of items) { queue.push(item); $("queue").append(item.li); render(item); }
  pinned = false;
  const polls = [];
  for (const item of items) {  // one upload at a time; the server's queue scans them in turn
    setState(item, "uploading");
    const form = new FormData();
    form.append("file", item.file);
    const sampling = $("sampling").value;
    if (sampling) form.append("sampling", sampling);
    try {
      item.id = (await api("/api/scans", { method: "POST", body: form })).id;
      setState(item, "queued");
      polls.push(poll(item).catch((e) => setState(item, "failed: " + e.message)));
    } catch (e) {
      setState(item, "not sent: " + e.message);
    }
  }
  say(`${items.length} file(s) sent.`);
  await Promise.all(polls);
  say(`Done: ${items.length} file(s).`);
}

async function loadHistory() {
  try {
    const page = await api("/api/scans?limit=20");
    const list = $("history");
    list.replaceChildren();
    for (const job of page.items) {
      const verdict = job.result ? job.result.verdict : job.status;
      const button = el("button", { type: "button", class: "link" }, `${job.filename} — ${verdict}`);
      button.addEventListener("click", async () => { pinned = true; showJob(await api(`/api/scans/${job.id}`)); });
      list.append(el("li", {}, button));
    }
  } catch (e) { say("The list of recent scans could not be loaded: " + e.message); }
}

$("upload-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value || token;
  if (token) sessionStorage.setItem("fakescope-token", token);
  const files = $("file").files;
  if (!files.length) { say("Choose one or more files first."); return; }
  runQueue(files);
  $("file").value = "";
});
$("download-report").addEventListener("click", downloadReport);

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) runQueue(e.dataTransfer.files);
});

loadHistory();
