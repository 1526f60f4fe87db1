// ibl-video serve: refresh the pipeline tables, and draw tracked points over session videos.
"use strict";

function refreshLoop(el) {
  const url = el.dataset.refresh, every = parseInt(el.dataset.refreshMs || "3000", 10);
  async function tick() {
    try {
      const r = await fetch(url, { headers: { "Accept": "text/html" }, cache: "no-store" });
      if (r.ok) {
        el.innerHTML = await r.text();
        const at = el.querySelector("#updated-at");
        if (at) at.textContent = new Date().toLocaleTimeString();
      }
    } catch (e) { /* server restarting: try again at the next tick */ }
    setTimeout(tick, every);
  }
  setTimeout(tick, every);
}

const COLOURS = [["pupil", "#00bfff"], ["tongue", "#ff4500"], ["tube", "#ffd700"], ["nostril", "#9acd32"],
                 ["chin", "#ba55d3"], ["finger", "#ff69b4"], ["pinky", "#ff69b4"]];
function colour(name) {
  for (const [k, c] of COLOURS) if (name.includes(k)) return c;
  return "#ffffff";
}

function poseOverlay(fig) {
  const video = fig.querySelector("video"), canvas = fig.querySelector("canvas");
  const seek = fig.querySelector(".seek"), frameLabel = fig.querySelector(".frame");
  const fps = parseFloat(fig.dataset.fps), poseKey = fig.dataset.poseKey;
  let pose = null, loading = false, requested = null;
  async function load(start) {
    const from = Math.max(0, start - 1).toFixed(2);
    if (!poseKey || loading || from === requested) return;  // that window is here (or failed): no refetch
    loading = true;
    requested = from;
    const url = fig.dataset.poseUrl + "?start=" + from + "&key=" + encodeURIComponent(poseKey);
    try { const r = await fetch(url); if (r.ok) pose = await r.json(); } finally { loading = false; }
  }
  function draw() {
    const w = video.clientWidth, h = video.clientHeight;
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    let i = Math.floor(video.currentTime * fps + 1e-3);
    if (pose) i = Math.min(i, pose.n_frames - 1);  // the end of the video is its last frame
    frameLabel.textContent = i;
    if (!pose || !video.videoWidth) return;
    const j = i - pose.first_frame, n = Object.values(pose.points)[0].length;
    if (j < 0 || j >= n) { load(i / fps); return; }
    const sx = w / video.videoWidth, sy = h / video.videoHeight;
    for (const [name, rows] of Object.entries(pose.points)) {
      const p = rows[j];
      if (!p || p[2] < 0.9) continue;
      ctx.beginPath(); ctx.arc(p[0] * sx, p[1] * sy, 3, 0, 2 * Math.PI);
      ctx.fillStyle = colour(name); ctx.fill();
    }
  }
  function loop() { draw(); requestAnimationFrame(loop); }
  seek.addEventListener("change", () => { video.currentTime = parseFloat(seek.value) || 0; });
  video.addEventListener("seeked", () => { seek.value = video.currentTime.toFixed(1); draw(); });
  const fragment = /[#&]t=([0-9.]+)/.exec(window.location.hash);
  if (fragment) video.addEventListener("loadedmetadata", () => { video.currentTime = parseFloat(fragment[1]); }, { once: true });
  window.addEventListener("hashchange", () => {  // #t=<seconds> seeks
    const t = /[#&]t=([0-9.]+)/.exec(window.location.hash);
    if (t) video.currentTime = parseFloat(t[1]);
  });
  load(fragment ? parseFloat(fragment[1]) : 0);
  loop();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach(refreshLoop);
  document.querySelectorAll("figure.video").forEach(poseOverlay);
});
