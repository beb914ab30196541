// Presentation mode (side by side or a wipe slider, zoom that moves both photos together,
// keys and swipe between pairs, full screen) and the wipe on the patient's shared page.
"use strict";

(() => {
  // ---- a wipe: the after over the before, cut at the slider --------------------------------
  function setUpWipe(wipe, range) {
    const line = wipe.querySelector(".wipe__line");
    const top = wipe.querySelector(".wipe__top");
    const split = wipe.dataset.split === "true";
    const img = wipe.querySelector(".wipe__img");
    let after = null;
    if (split) {
      // One picture holding both halves (the rendered comparison): show its left half, and
      // over it a copy of its right half, clipped at the slider.
      after = img.cloneNode();
      after.alt = "";
      after.classList.add("wipe__after");
      wipe.append(after);
    }
    // The rendered picture is before | gap | after (see comparisons/render.py).
    const GAP = 12;
    let afterOffset = 0;
    function layout() {
      if (!split || !img.naturalWidth) return;
      const half = (img.naturalWidth - GAP) / 2;
      const ratio = wipe.clientWidth / half;
      // Only the photos, not the label band beneath them (the page captions them itself).
      const d = wipe.dataset;
      const photoHeight = Number(d.photoHeight) - Number(d.photoY) || img.naturalHeight;
      wipe.style.height = `${photoHeight * ratio}px`;
      afterOffset = (half + GAP) * ratio;
      for (const [piece, offset] of [[img, 0], [after, afterOffset]]) {
        piece.style.width = `${img.naturalWidth * ratio}px`;
        piece.style.left = `${-offset}px`;
      }
      set(Number(range.value));
    }
    function set(value) {
      const pct = Math.max(0, Math.min(100, value));
      // The after's copy is shifted left by afterOffset, so its cut is measured from there.
      if (split) after.style.clipPath = `inset(0 0 0 ${afterOffset + (pct / 100) * wipe.clientWidth}px)`;
      else {
        // Under a zoom about the centre, the line's place on screen is another inside.
        const zoom = Number(wipe.dataset.zoom || 1);
        top.style.clipPath = `inset(0 0 0 ${50 + (pct - 50) / zoom}%)`;
      }
      line.style.left = `${pct}%`;
      range.value = String(Math.round(pct));
    }
    range.addEventListener("input", () => set(Number(range.value)));
    wipe.addEventListener("wipe:refresh", () => set(Number(range.value)));
    let dragging = false;
    const fromEvent = (event) => {
      const box = wipe.getBoundingClientRect();
      set(((event.clientX - box.left) / box.width) * 100);
    };
    wipe.addEventListener("pointerdown", (event) => { dragging = true; wipe.setPointerCapture(event.pointerId); fromEvent(event); });
    wipe.addEventListener("pointermove", (event) => { if (dragging) fromEvent(event); });
    wipe.addEventListener("pointerup", () => { dragging = false; });
    wipe.addEventListener("pointercancel", () => { dragging = false; });
    img.addEventListener("load", layout);
    window.addEventListener("resize", layout);
    if (img.complete) layout();
    set(Number(range.value));
  }

  const range = document.getElementById("wipe-range");
  document.querySelectorAll("[data-wipe]").forEach((wipe) => setUpWipe(wipe, range));

  // ---- presentation mode --------------------------------------------------------------------
  const stage = document.getElementById("present");
  if (!stage) return;
  const slides = JSON.parse(document.getElementById("present-slides").textContent);
  let index = 0;
  let zoom = 1;
  const role = (name) => stage.querySelector(`[data-role="${name}"]`);
  const side = stage.querySelector(".present__side");
  const wipeBox = stage.querySelector(".present__wipe");
  const modeButton = document.querySelector('[data-action="mode"]');

  const wipe = stage.querySelector("[data-wipe]");
  const zoomBox = stage.querySelector(".wipe__zoom");
  const placed = role("wipe-after");
  const wipeBefore = role("wipe-before");

  // The wipe shows the after laid on the before by the pair's similarity transform (the
  // comparison's, or the images' proposal), in the before's frame, as the compare page does.
  function layoutWipe() {
    const slide = slides[index];
    const [bw, bh] = slide.alignment ? slide.alignment.before_size : [wipeBefore.naturalWidth, wipeBefore.naturalHeight];
    if (!bw || !placed.naturalWidth) return;
    const room = wipeBox.clientWidth || stage.clientWidth;
    // The height the stage leaves once the slider (and its label) are placed under the photo.
    const controls = [...wipeBox.children].filter((el) => el !== wipe).reduce((sum, el) => sum + el.offsetHeight, 0);
    const tall = Math.max(80, stage.clientHeight - controls - 8);
    const width = Math.min(room, (tall * bw) / bh);
    wipe.style.width = `${width}px`;
    const k = width / bw;
    let t = slide.alignment && slide.alignment.transform;
    if (!t) {
      const s = bh / placed.naturalHeight;
      t = { scale: s, rotation: 0, tx: (bw - placed.naturalWidth * s) / 2, ty: 0 };
    }
    const r = (t.rotation * Math.PI) / 180;
    const a = t.scale * Math.cos(r);
    const b = t.scale * Math.sin(r);
    placed.style.width = `${placed.naturalWidth * k}px`;
    placed.style.transform = `matrix(${a}, ${b}, ${-b}, ${a}, ${t.tx * k}, ${t.ty * k})`;
  }
  placed.addEventListener("load", layoutWipe);
  wipeBefore.addEventListener("load", layoutWipe);
  window.addEventListener("resize", layoutWipe);

  function show() {
    const slide = slides[index];
    role("before").src = role("wipe-before").src = slide.before;
    role("after").src = role("wipe-after").src = slide.after;
    role("before-label").textContent = slide.before_label;
    role("after-label").textContent = slide.after_label;
    document.querySelector('[data-role="title"]').textContent = slide.title;
    document.querySelector('[data-role="index"]').textContent = String(index + 1);
    setZoom(1);
  }
  function go(step) { index = (index + step + slides.length) % slides.length; show(); }
  function setZoom(value) {
    // Both photos together: each side's photo, or the wipe's pair as one.
    zoom = Math.max(1, Math.min(5, value));
    stage.querySelectorAll(".present__img").forEach((img) => { img.style.transform = `scale(${zoom})`; });
    zoomBox.style.transform = `scale(${zoom})`;
    wipe.dataset.zoom = String(zoom);
    wipe.dispatchEvent(new Event("wipe:refresh"));
  }
  function toggleMode() {
    const toWipe = stage.dataset.mode !== "wipe";
    stage.dataset.mode = toWipe ? "wipe" : "side";
    side.hidden = toWipe;
    wipeBox.hidden = !toWipe;
    modeButton.setAttribute("aria-pressed", String(toWipe));
    modeButton.textContent = toWipe ? "Side by side" : "Wipe";
    if (toWipe) layoutWipe();
  }
  document.querySelector('[data-action="prev"]').addEventListener("click", () => go(-1));
  document.querySelector('[data-action="next"]').addEventListener("click", () => go(1));
  modeButton.addEventListener("click", toggleMode);
  document.querySelector('[data-action="fullscreen"]').addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else document.documentElement.requestFullscreen().catch(() => {});
  });
  document.addEventListener("keydown", (event) => {
    if (event.target === range) return;
    if (event.key === "ArrowRight" || event.key === "PageDown") go(1);
    else if (event.key === "ArrowLeft" || event.key === "PageUp") go(-1);
    else if (event.key === "w") toggleMode();
    else if (event.key === "+" || event.key === "=") setZoom(zoom * 1.25);
    else if (event.key === "-") setZoom(zoom / 1.25);
  });
  stage.addEventListener("wheel", (event) => { event.preventDefault(); setZoom(zoom * (event.deltaY < 0 ? 1.1 : 1 / 1.1)); }, { passive: false });
  // Two fingers pinch zoom (both photos together); one finger swipes between pairs.
  const touches = new Map();
  let pinchStart = 0;
  let swipeStart = null;
  stage.addEventListener("pointerdown", (event) => {
    if (event.target === range || event.target.closest("[data-wipe]")) return;
    touches.set(event.pointerId, event);
    if (touches.size === 2) {
      const [a, b] = [...touches.values()];
      pinchStart = Math.hypot(a.clientX - b.clientX, a.clientY - b.clientY) / zoom;
      swipeStart = null;
    } else swipeStart = event.clientX;
  });
  stage.addEventListener("pointermove", (event) => {
    if (!touches.has(event.pointerId)) return;
    touches.set(event.pointerId, event);
    if (touches.size === 2 && pinchStart) {
      const [a, b] = [...touches.values()];
      setZoom(Math.hypot(a.clientX - b.clientX, a.clientY - b.clientY) / pinchStart);
    }
  });
  const end = (event) => {
    if (swipeStart !== null && touches.size === 1 && zoom === 1) {
      const dx = event.clientX - swipeStart;
      if (Math.abs(dx) > 60) go(dx < 0 ? 1 : -1);
    }
    touches.delete(event.pointerId);
    if (touches.size < 2) pinchStart = 0;
    if (!touches.size) swipeStart = null;
  };
  stage.addEventListener("pointerup", end);
  stage.addEventListener("pointercancel", end);
})();
