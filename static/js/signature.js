// The signature pad on the consent page: draw with finger, pen or mouse; the drawing is sent
// as a PNG in a hidden field when the form is submitted.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const canvas = document.getElementById("signature-pad");
  const form = document.getElementById("sign-form");
  if (!canvas || !form) return;
  const field = form.elements.signature;
  const clear = document.getElementById("signature-clear");
  const context = canvas.getContext("2d");
  let drawing = false;
  let drawn = false;
  let last = null;

  function fitToWidth() {
    // Keep the drawing surface sharp at the displayed size.
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    const keep = drawn ? canvas.toDataURL("image/png") : null;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.lineWidth = 2.2;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = "#10233f";
    if (keep) {
      const image = new Image();
      image.onload = () => context.drawImage(image, 0, 0, width, height);
      image.src = keep;
    }
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return { x: event.clientX - box.left, y: event.clientY - box.top };
  }

  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    last = point(event);
    canvas.setPointerCapture(event.pointerId);
    context.beginPath();
    context.arc(last.x, last.y, 1, 0, Math.PI * 2);
    context.fillStyle = "#10233f";
    context.fill();
    drawn = true;
    event.preventDefault();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const next = point(event);
    context.beginPath();
    context.moveTo(last.x, last.y);
    context.lineTo(next.x, next.y);
    context.stroke();
    last = next;
    event.preventDefault();
  });
  for (const name of ["pointerup", "pointercancel", "pointerleave"]) {
    canvas.addEventListener(name, () => { drawing = false; });
  }
  clear.addEventListener("click", () => {
    context.clearRect(0, 0, canvas.width, canvas.height);
    drawn = false;
    field.value = "";
  });
  form.addEventListener("submit", () => {
    field.value = drawn ? canvas.toDataURL("image/png") : "";
  });
  window.addEventListener("resize", fitToWidth);
  fitToWidth();
});
