// The signature pad on the consent page: draw with a finger, a pen or the mouse (pointer
// events, so touch, stylus and mouse all work the same). The strokes are kept as points, so
// the drawing is redrawn sharp at the screen's pixel density whenever the pad changes width;
// on submit it goes to the server as a PNG in a hidden field.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const canvas = document.getElementById("signature-pad");
  const form = document.getElementById("sign-form");
  if (!canvas || !form || !canvas.getContext) return;
  const field = form.elements.signature;
  const clear = document.getElementById("signature-clear");
  const error = document.getElementById("signature-error");
  const box = canvas.closest(".signature-box") || canvas.parentElement;
  const context = canvas.getContext("2d");
  const INK = "#10233f";
  const LINE = 2.5; // CSS pixels

  // Each stroke is a list of points in units of the pad's width, so a redraw at another width
  // keeps the shape.
  let strokes = [];
  let current = null;
  let width = 0;

  function ratio() {
    return Math.min(Math.max(window.devicePixelRatio || 1, 1), 3);
  }

  function fit() {
    // The backing store matches the displayed size times the pixel ratio: sharp, not blurred.
    const cssWidth = canvas.clientWidth;
    const cssHeight = canvas.clientHeight;
    if (!cssWidth || !cssHeight) return;
    const scale = ratio();
    const pixelWidth = Math.round(cssWidth * scale);
    const pixelHeight = Math.round(cssHeight * scale);
    if (canvas.width === pixelWidth && canvas.height === pixelHeight) return;
    canvas.width = pixelWidth;
    canvas.height = pixelHeight;
    width = cssWidth;
    context.setTransform(scale, 0, 0, scale, 0, 0);
    redraw();
  }

  function drawStroke(points) {
    const at = (p) => ({ x: p.x * width, y: p.y * width });
    context.lineWidth = LINE;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = INK;
    context.fillStyle = INK;
    if (points.length === 1) {
      const p = at(points[0]);
      context.beginPath();
      context.arc(p.x, p.y, LINE / 2, 0, Math.PI * 2);
      context.fill();
      return;
    }
    // A smooth line: quadratic curves through the midpoints between samples.
    context.beginPath();
    let p = at(points[0]);
    context.moveTo(p.x, p.y);
    for (let i = 1; i < points.length - 1; i += 1) {
      const here = at(points[i]);
      const next = at(points[i + 1]);
      context.quadraticCurveTo(here.x, here.y, (here.x + next.x) / 2, (here.y + next.y) / 2);
    }
    p = at(points[points.length - 1]);
    context.lineTo(p.x, p.y);
    context.stroke();
  }

  function redraw() {
    context.clearRect(0, 0, canvas.width, canvas.height);
    strokes.forEach(drawStroke);
  }

  function pointOf(event) {
    const rect = canvas.getBoundingClientRect();
    return { x: (event.clientX - rect.left) / width, y: (event.clientY - rect.top) / width };
  }

  function setSigned(signed) {
    box.classList.toggle("signature-box--signed", signed);
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    fit();
    canvas.setPointerCapture(event.pointerId);
    current = [pointOf(event)];
    strokes.push(current);
    drawStroke(current);
    setSigned(true);
  });

  canvas.addEventListener("pointermove", (event) => {
    if (!current) return;
    event.preventDefault();
    const samples = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const sample of samples.length ? samples : [event]) current.push(pointOf(sample));
    redraw();
  });

  function end() {
    // The error above the pad goes only once the stroke is finished: hiding it mid-stroke
    // would move the pad under the finger.
    if (current && error) error.hidden = true;
    current = null;
  }
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("lostpointercapture", end);

  clear.addEventListener("click", () => {
    strokes = [];
    current = null;
    redraw();
    field.value = "";
    setSigned(false);
  });

  // Everything the server would refuse, checked before sending: the required uses, the name
  // and the signature. The problems are listed at the top, focused, each linking to its field.
  const summary = document.getElementById("error-summary");
  const summaryList = document.getElementById("error-summary-list");
  const summaryTitle = document.getElementById("error-summary-h");

  function showProblems(problems) {
    summaryList.replaceChildren(...problems.map(([target, text]) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `#${target}`;
      link.textContent = text;
      item.append(link);
      return item;
    }));
    summaryTitle.textContent = problems.length > 1 ? `There are ${problems.length} problems` : "There is a problem";
    summary.hidden = false;
    summary.focus();
  }

  form.addEventListener("submit", (event) => {
    const problems = [];
    for (const box of form.querySelectorAll("input[data-required]")) {
      const row = box.closest(".consent-choice");
      row.classList.toggle("consent-choice--error", !box.checked);
      if (!box.checked) {
        problems.push([box.id, `To go ahead with treatment the clinic needs your consent to: ${box.dataset.required}. Tick it, or contact the clinic if you do not agree.`]);
      }
    }
    const name = form.elements.full_name;
    if (name && name.value.trim().length < 2) problems.push([name.id, "Type your full name."]);
    const typed = form.elements.typed_signature;
    const typedOk = typed && typed.checked;
    if (!strokes.length && !typedOk) {
      field.value = "";
      if (error) error.hidden = false;
      problems.push(["signature-pad", "Please draw your signature in the box."]);
    }
    if (problems.length) {
      event.preventDefault();
      if (summary) showProblems(problems);
      return;
    }
    field.value = strokes.length ? canvas.toDataURL("image/png") : "";
  });

  // Only a change of width redraws: a phone's address bar showing or hiding changes the height
  // of the window, not the pad.
  if (window.ResizeObserver) {
    new ResizeObserver(fit).observe(canvas);
  } else {
    window.addEventListener("resize", fit);
  }
  fit();
});
