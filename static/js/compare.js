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

  // Both frames show the before's whole rendition at the frame's width (in the overlay the
  // after's frame alone, the before beneath it).
  function k() { return frame.clientWidth / bw; }

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
    const relative = t.scale * Math.max(...setup.proposal.after_size) / Math.max(bw, bh);
    readout.textContent = `Scale ×${relative.toFixed(3)} at equal long side, rotation ${t.rotation.toFixed(1)}°, shift ${Math.round(t.tx)}, ${Math.round(t.ty)} px`;
    guides();
    liveWarnings(relative);
  }

  // ---- the overlay, its opacity and flicker, the eye line, grid and landmarks ---------------
  const under = document.getElementById("img-under");
  const opacity = document.getElementById("overlay-opacity");
  const flicker = document.getElementById("overlay-flicker");
  const toggles = ["eyeline", "grid", "landmarks"].map((n) => document.getElementById(`overlay-${n}`));
  let flickering = null;
  function layout(mode) {
    const overlay = mode === "overlay";
    root.classList.toggle("compare--overlay", overlay);
    under.hidden = !overlay;
    opacity.disabled = flicker.disabled = !overlay;
    if (!overlay) { flicker.checked = false; }
    fade();
    draw();
  }
  function fade() {
    window.clearInterval(flickering);
    flickering = null;
    const overlay = root.classList.contains("compare--overlay");
    imgAfter.style.opacity = overlay ? String(opacity.value / 100) : "";
    if (overlay && flicker.checked) {
      let shown = true;
      flickering = window.setInterval(() => {
        shown = !shown;
        imgAfter.style.opacity = shown ? "1" : "0";
      }, 500);
    }
  }
  document.querySelectorAll('input[name="layout"]').forEach((radio) => {
    radio.addEventListener("change", () => { if (radio.checked) layout(radio.value); });
  });
  opacity.addEventListener("input", fade);
  flicker.addEventListener("change", fade);
  toggles.forEach((box) => box && box.addEventListener("change", guides));

  const SVG = "http://www.w3.org/2000/svg";
  function shape(name, attrs) {
    const node = document.createElementNS(SVG, name);
    Object.entries(attrs).forEach(([key, value]) => node.setAttribute(key, String(value)));
    return node;
  }
  function placed(point) {
    // An after-pixel in before-pixels under the current transform.
    const r = (t.rotation * Math.PI) / 180;
    const a = t.scale * Math.cos(r);
    const b = t.scale * Math.sin(r);
    return [a * point[0] - b * point[1] + t.tx, b * point[0] + a * point[1] + t.ty];
  }
  function guides() {
    const s = k();
    const [eyeline, grid, landmarks] = toggles.map((box) => box && box.checked);
    const eyes = setup.proposal.before_eyes;
    const afterEyes = setup.proposal.after_eyes;
    document.querySelectorAll(".compare__guides").forEach((svg) => {
      svg.setAttribute("viewBox", `0 0 ${bw * s} ${bh * s}`);
      const parts = [];
      if (grid) {
        for (let i = 1; i < 6; i += 1) {
          parts.push(shape("line", { x1: (bw * s * i) / 6, y1: 0, x2: (bw * s * i) / 6, y2: bh * s, class: "guide guide--grid" }));
          parts.push(shape("line", { x1: 0, y1: (bh * s * i) / 6, x2: bw * s, y2: (bh * s * i) / 6, class: "guide guide--grid" }));
        }
      }
      if (eyeline && eyes) {
        const [l, r] = eyes;
        const dx = r[0] - l[0];
        const dy = r[1] - l[1];
        const far = (bw * 2) / Math.hypot(dx, dy);
        parts.push(shape("line", { x1: (l[0] - dx * far) * s, y1: (l[1] - dy * far) * s, x2: (r[0] + dx * far) * s, y2: (r[1] + dy * far) * s, class: "guide guide--eyes" }));
      }
      if (landmarks && eyes) {
        eyes.forEach((p) => parts.push(shape("circle", { cx: p[0] * s, cy: p[1] * s, r: 5, class: "guide guide--before" })));
        if (svg.id === "guides-after" && afterEyes) {
          afterEyes.map(placed).forEach((p) => parts.push(shape("circle", { cx: p[0] * s, cy: p[1] * s, r: 5, class: "guide guide--after" })));
        }
      }
      svg.replaceChildren(...parts);
    });
  }

  // Scale, rotation and whether it was lined up by hand follow the nudges at once; the
  // rest (faces, light) is the server's, refreshed when the image is made.
  const live = document.getElementById("warnings");
  const state = document.getElementById("alignment-state");
  function liveWarnings(relative) {
    if (!live) return;
    const rotation = ((t.rotation + 540) % 360) - 180;
    const mine = [];
    if (Math.abs(relative - 1) > setup.limits.scale) {
      mine.push(["scale", `Scale differs: the after is scaled ×${relative.toFixed(2)} to match the before (taken about ${Math.round(Math.abs(relative - 1) * 100)} % ${relative > 1 ? "further away" : "nearer"}); more than ${Math.round(setup.limits.scale * 100)} % makes sizes hard to compare.`]);
    }
    if (Math.abs(rotation) > setup.limits.rotation) {
      mine.push(["rotation", `Rotation: the after is turned ${Math.abs(rotation).toFixed(1)}° ${rotation < 0 ? "anticlockwise" : "clockwise"} to match the before (more than ${setup.limits.rotation}°); the head was tilted differently.`]);
    }
    const moved = ["scale", "rotation", "tx", "ty"].some((key) => Math.abs(t[key] - setup.proposal[key]) > 1e-6);
    if (state) {
      state.querySelector("strong").textContent = moved ? "Lined up by hand." : "Not lined up.";
    }
    live.querySelectorAll('[data-code="scale"], [data-code="rotation"], .notice--success').forEach((item) => item.remove());
    mine.forEach(([code, message]) => {
      const item = document.createElement("li");
      item.className = "notice notice--warning";
      item.dataset.code = code;
      item.textContent = message;
      live.append(item);
    });
    if (!live.children.length) {
      const item = document.createElement("li");
      item.className = "notice notice--success";
      item.textContent = "No differences found in view, area, scale, rotation or light.";
      live.append(item);
    }
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
  // On a phone the two are overlaid rather than stacked.
  if (window.matchMedia("(max-width: 40rem)").matches) {
    document.querySelector('input[name="layout"][value="overlay"]').checked = true;
    layout("overlay");
  }

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
      if (w) item.dataset.code = w.code;
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
