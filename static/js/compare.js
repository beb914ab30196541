// The compare page: the after photo laid onto the before with the proposed similarity
// transform, nudged by buttons, keys and drag, reset to the proposal; the rendering's state
// polled until the image and PDF are ready (as the photo grid polls its thumbnails).
"use strict";

(() => {
  const root = document.getElementById("compare");
  if (!root) return;
  const setup = JSON.parse(document.getElementById(root.dataset.setup).textContent);
  const frame = document.getElementById("frame-after");
  const frameBefore = document.getElementById("frame-before");
  const imgAfter = document.getElementById("img-after");
  const field = document.getElementById("transform-field");
  const readout = document.getElementById("transform-readout");
  const [bw, bh] = setup.proposal.before_size;
  const STEP_PX = 4; // in before-pixels per press
  const STEP_SCALE = 1.01;
  const STEP_DEG = 0.5;
  let t = { ...setup.transform };

  // Both frames show the before's whole rendition at the frame's width.
  function k() { return frameBefore.clientWidth / bw; }

  function about(centreX, centreY, scaleBy, degrees) {
    // New transform = T(c) R S T(-c) · old, so the change turns and scales about the centre.
    const r = (degrees * Math.PI) / 180;
    const cos = Math.cos(r) * scaleBy;
    const sin = Math.sin(r) * scaleBy;
    const x = t.tx - centreX;
    const y = t.ty - centreY;
    t.tx = cos * x - sin * y + centreX;
    t.ty = sin * x + cos * y + centreY;
    t.scale *= scaleBy;
    t.rotation += degrees;
  }

  function draw() {
    const s = k();
    const r = (t.rotation * Math.PI) / 180;
    const a = t.scale * Math.cos(r);
    const b = t.scale * Math.sin(r);
    imgAfter.style.transform = `matrix(${a}, ${b}, ${-b}, ${a}, ${t.tx * s}, ${t.ty * s})`;
    imgAfter.style.width = `${imgAfter.naturalWidth * s}px`;
    frame.style.height = frameBefore.style.height = `${bh * s}px`;
    field.value = JSON.stringify(t);
    const relative = t.scale * setup.proposal.after_size[1] / bh;
    readout.textContent = `Scale ×${relative.toFixed(3)}, rotation ${t.rotation.toFixed(1)}°, shift ${Math.round(t.tx)}, ${Math.round(t.ty)} px`;
  }

  const actions = {
    left: () => { t.tx -= STEP_PX; },
    right: () => { t.tx += STEP_PX; },
    up: () => { t.ty -= STEP_PX; },
    down: () => { t.ty += STEP_PX; },
    bigger: () => about(bw / 2, bh / 2, STEP_SCALE, 0),
    smaller: () => about(bw / 2, bh / 2, 1 / STEP_SCALE, 0),
    cw: () => about(bw / 2, bh / 2, 1, STEP_DEG),
    ccw: () => about(bw / 2, bh / 2, 1, -STEP_DEG),
    reset: () => { t = { ...setup.transform, ...pick(setup.proposal) }; },
  };
  function pick(p) { return { scale: p.scale, rotation: p.rotation, tx: p.tx, ty: p.ty }; }

  document.querySelectorAll("[data-nudge]").forEach((button) => {
    button.addEventListener("click", () => { actions[button.dataset.nudge](); draw(); });
  });
  const KEYS = { ArrowLeft: "left", ArrowRight: "right", ArrowUp: "up", ArrowDown: "down", "+": "bigger", "=": "bigger", "-": "smaller", "]": "cw", "[": "ccw", "0": "reset" };
  frame.addEventListener("keydown", (event) => {
    const name = KEYS[event.key];
    if (!name) return;
    event.preventDefault();
    actions[name]();
    draw();
  });
  let dragging = null;
  frame.addEventListener("pointerdown", (event) => {
    dragging = { x: event.clientX, y: event.clientY };
    frame.setPointerCapture(event.pointerId);
  });
  frame.addEventListener("pointermove", (event) => {
    if (!dragging) return;
    const s = k();
    t.tx += (event.clientX - dragging.x) / s;
    t.ty += (event.clientY - dragging.y) / s;
    dragging = { x: event.clientX, y: event.clientY };
    draw();
  });
  const stop = () => { dragging = null; };
  frame.addEventListener("pointerup", stop);
  frame.addEventListener("pointercancel", stop);
  imgAfter.addEventListener("load", draw);
  window.addEventListener("resize", draw);
  if (imgAfter.complete) draw();

  // ---- the rendering's state --------------------------------------------------------------
  const stateText = document.getElementById("render-state");
  const links = document.getElementById("render-links");
  const warnings = document.getElementById("warnings");
  function show(state) {
    stateText.dataset.status = state.status;
    stateText.textContent = state.status === "ready" ? "Ready." : state.status === "rendering" ? "Making the image and PDF…" : state.failure_reason || "";
    if (state.status === "ready") {
      document.getElementById("image-link").href = state.image_url;
      document.getElementById("pdf-link").href = state.pdf_url;
      links.hidden = false;
      document.querySelectorAll("#share button[disabled]").forEach((b) => { b.disabled = false; });
      const why = document.getElementById("share-why");
      if (why) why.hidden = true;
    }
    warnings.replaceChildren(...(state.warnings.length ? state.warnings : [null]).map((w) => {
      const item = document.createElement("li");
      item.className = w ? "notice notice--warning" : "notice notice--success";
      item.textContent = w ? w.message : "No differences found in view, area, scale, rotation or light.";
      return item;
    }));
  }
  function poll(delay) {
    if (stateText.dataset.status !== "rendering") return;
    window.setTimeout(() => {
      fetch(setup.status_url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null))
        .then((state) => { if (state) show(state); poll(Math.min(delay * 1.5, 5000)); })
        .catch(() => poll(5000));
    }, delay);
  }
  poll(500);
})();
