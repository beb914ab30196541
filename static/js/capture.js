// Guided capture: the treatment's views one after another. Each step shows the earlier photo
// of that view see-through over the live camera, both filling the same frame with the same
// crop, and the photo is uploaded the moment it is taken with its facts filled in.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("capture");
  if (!root) return;
  const steps = [...root.querySelectorAll(".capture__step")];
  const frame = document.getElementById("capture-frame");
  const video = document.getElementById("capture-video");
  const ghost = document.getElementById("capture-ghost");
  const ghostLabel = document.getElementById("capture-ghost-label");
  const heading = document.getElementById("capture-view");
  const status = document.getElementById("capture-status");
  const shoot = document.getElementById("capture-shoot");
  const skip = document.getElementById("capture-skip");
  const counter = document.getElementById("capture-counter");
  const card = root.querySelector(".capture__card");
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const DEFAULT_RATIO = 3 / 4; // portrait, as a face is taken
  let current = -1;
  let stream = null;

  function ratio() {
    return Number(getComputedStyle(frame).getPropertyValue("--ghost-ratio")) || DEFAULT_RATIO;
  }

  function setState(step, text, className) {
    step.querySelector(".capture__step-state").textContent = text;
    step.classList.remove("capture__step--done", "capture__step--skipped", "capture__step--sending", "capture__step--failed");
    if (className) step.classList.add(className);
  }

  function showGhost(url, label) {
    if (url) {
      ghost.src = url;
      ghost.hidden = false;
      ghostLabel.textContent = `Guide: ${label}. Line the face up with it.`;
    } else {
      ghost.hidden = true;
      ghost.removeAttribute("src");
      frame.style.setProperty("--ghost-ratio", String(DEFAULT_RATIO));
      ghostLabel.textContent = "No earlier photo of this view: this one will be the guide next time.";
    }
  }

  ghost.addEventListener("load", () => {
    if (ghost.naturalWidth && ghost.naturalHeight) {
      frame.style.setProperty("--ghost-ratio", String(ghost.naturalWidth / ghost.naturalHeight));
    }
  });

  function go(index) {
    current = index;
    steps.forEach((step, i) => {
      const here = i === index;
      step.classList.toggle("capture__step--current", here);
      const button = step.querySelector("button");
      if (here) button.setAttribute("aria-current", "step"); else button.removeAttribute("aria-current");
    });
    if (index < 0) {
      heading.textContent = "All views done";
      counter.textContent = `${steps.filter((s) => s.dataset.photo).length} of ${steps.length} taken`;
      shoot.disabled = true;
      skip.hidden = true;
      ghost.hidden = true;
      ghostLabel.textContent = "Tap a view above to retake it.";
      return;
    }
    const step = steps[index];
    const retake = step.dataset.photo ? " (retake)" : "";
    heading.textContent = `${step.dataset.label}${retake}`;
    counter.textContent = `View ${index + 1} of ${steps.length}`;
    skip.hidden = false;
    shoot.textContent = step.dataset.photo ? "Retake photo" : "Take photo";
    shoot.disabled = !stream;
    showGhost(step.dataset.ghost, step.dataset.ghostLabel);
  }

  function nextAfter(index) {
    for (let i = index + 1; i < steps.length; i += 1) {
      if (!steps[i].dataset.photo && !steps[i].classList.contains("capture__step--skipped")) return i;
    }
    return steps.findIndex((s) => !s.dataset.photo && !s.classList.contains("capture__step--skipped") && !s.classList.contains("capture__step--sending"));
  }

  // The part of the camera picture the frame shows (object-fit: cover): the same crop.
  function grab() {
    const vw = video.videoWidth;
    const vh = video.videoHeight;
    const want = ratio();
    let sw = vw;
    let sh = vh;
    if (vw / vh > want) sw = Math.round(vh * want); else sh = Math.round(vw / want);
    const canvas = document.createElement("canvas");
    canvas.width = sw;
    canvas.height = sh;
    canvas.getContext("2d").drawImage(video, (vw - sw) / 2, (vh - sh) / 2, sw, sh, 0, 0, sw, sh);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
  }

  async function upload(step, blob) {
    const data = new FormData();
    data.append("csrfmiddlewaretoken", csrf);
    data.append("episode", root.dataset.episode);
    data.append("stage", root.dataset.stage);
    data.append("area", root.dataset.area);
    data.append("view", step.dataset.view);
    if (step.dataset.photo) data.append("replaces", step.dataset.photo);
    data.append("files", new File([blob], `${step.dataset.view}.jpg`, { type: "image/jpeg" }));
    setState(step, "uploading…", "capture__step--sending");
    try {
      const response = await fetch(root.dataset.uploadUrl, {
        method: "POST", body: data, headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      const body = await response.json();
      const result = (body.results || [])[0];
      if (response.ok && result && result.ok) {
        step.dataset.photo = result.photo_id;
        setState(step, "done", "capture__step--done");
        status.textContent = `${step.dataset.label} uploaded and stored encrypted.`;
        return;
      }
      throw new Error(body.problem || (result && result.message) || "Upload failed.");
    } catch (error) {
      setState(step, "not saved: tap to try again", "capture__step--failed");
      status.textContent = `${step.dataset.label} was not saved: ${error.message || "the connection failed"}`;
    }
  }

  shoot.addEventListener("click", async () => {
    if (current < 0 || !stream) return;
    const step = steps[current];
    shoot.disabled = true;
    const blob = await grab();
    upload(step, blob);  // in the background: the next view is ready at once
    go(nextAfter(current));
  });

  skip.addEventListener("click", () => {
    if (current < 0) return;
    const step = steps[current];
    if (!step.dataset.photo) setState(step, "skipped", "capture__step--skipped");
    status.textContent = `${step.dataset.label} skipped.`;
    go(nextAfter(current));
  });

  steps.forEach((step, index) => {
    step.querySelector("button").addEventListener("click", () => go(index));
  });

  for (const button of root.querySelectorAll(".capture__strip-button")) {
    button.addEventListener("click", () => {
      if (current < 0) return;
      steps[current].dataset.ghost = button.dataset.ghost;
      steps[current].dataset.ghostLabel = button.dataset.ghostLabel;
      showGhost(button.dataset.ghost, button.dataset.ghostLabel);
      frame.scrollIntoView({ block: "nearest" });
    });
  }

  window.addEventListener("pagehide", () => { if (stream) stream.getTracks().forEach((t) => t.stop()); });

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = "This browser cannot show the camera here; use Add photos instead.";
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment", width: { ideal: 1920 } } });
    } catch (error) {
      status.textContent = "The camera could not be opened (permission refused?). Allow it and reload, or use Add photos.";
      return;
    }
    video.srcObject = stream;
    await video.play();
    if (current >= 0) shoot.disabled = false;
    // The camera, the guide and the button then fill the screen, like a camera app.
    card.scrollIntoView({ block: "start" });
  }

  const first = steps.findIndex((s) => !s.dataset.photo);
  go(first);
  startCamera();
});
