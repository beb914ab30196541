// Guided capture: the treatment's views one after another. Each step shows the earlier photo
// of that view see-through over the live camera, and the photo is uploaded the moment it is
// taken with its facts filled in. What is stored is a still, never a frame of the video: the
// camera's own photo at its largest size (ImageCapture.takePhoto) where the browser has it,
// otherwise the device's camera app through a file input, the guide shown before and after.
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
  const fileInput = document.getElementById("capture-file");
  const mode = document.getElementById("capture-mode");
  const last = document.getElementById("capture-last");
  const lastPhoto = document.getElementById("capture-last-photo");
  const lastGhost = document.getElementById("capture-last-ghost");
  const lastText = document.getElementById("capture-last-text");
  const retake = document.getElementById("capture-retake");
  const shootWhy = document.getElementById("capture-shoot-why");
  const DEFAULT_RATIO = 3 / 4; // portrait, as a face is taken
  let current = -1;
  let stream = null;
  let stills = null; // ImageCapture on the camera's track, when the browser has it
  let stillSize = null; // the largest photo size the camera offers: {imageWidth, imageHeight}
  let handOffStep = -1; // the view the device's camera app is taking
  let reviewed = -1; // the view the last-shot panel is about

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

  // A shutter that cannot be used says why, beside it.
  function shutter(enabled, why) {
    shoot.disabled = !enabled;
    shootWhy.hidden = enabled;
    shootWhy.textContent = enabled ? "" : why;
  }

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
      shutter(false, "Every view is taken or skipped: tap a view above to take it again.");
      skip.hidden = true;
      ghost.hidden = true;
      ghostLabel.textContent = "";
      shoot.textContent = "Take photo";
      return;
    }
    const step = steps[index];
    const retake = step.dataset.photo ? " (retake)" : "";
    heading.textContent = `${step.dataset.label}${retake}`;
    counter.textContent = `View ${index + 1} of ${steps.length}`;
    skip.hidden = false;
    shoot.textContent = step.dataset.photo ? "Retake photo" : "Take photo";
    shutter(true);
    showGhost(step.dataset.ghost, step.dataset.ghostLabel);
  }

  function nextAfter(index) {
    for (let i = index + 1; i < steps.length; i += 1) {
      if (!steps[i].dataset.photo && !steps[i].classList.contains("capture__step--skipped")) return i;
    }
    return steps.findIndex((s) => !s.dataset.photo && !s.classList.contains("capture__step--skipped") && !s.classList.contains("capture__step--sending"));
  }

  function extension(type) {
    return { "image/png": "png", "image/heic": "heic", "image/heif": "heif", "image/webp": "webp" }[type] || "jpg";
  }

  async function upload(step, blob) {
    const data = new FormData();
    data.append("csrfmiddlewaretoken", csrf);
    data.append("episode", root.dataset.episode);
    data.append("stage", root.dataset.stage);
    data.append("area", root.dataset.area);
    data.append("view", step.dataset.view);
    if (step.dataset.photo) data.append("replaces", step.dataset.photo);
    // The camera's own bytes, as an upload: the server checks and decodes them as any photo.
    const type = blob.type || "image/jpeg";
    data.append("files", new File([blob], `${step.dataset.view}.${extension(type)}`, { type }));
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
        return;
      }
      throw new Error(body.problem || (result && result.message) || "Upload failed.");
    } catch (error) {
      setState(step, "not saved: tap to try again", "capture__step--failed");
      status.textContent = `${step.dataset.label} was not saved: ${error.message || "the connection failed"}`;
    }
  }

  function megapixels(width, height) {
    return `${width}×${height} (${(width * height / 1e6).toFixed(1)} MP)`;
  }

  // After each shot: the photo with its guide over it, the size the camera gave, and a check of
  // sharpness and exposure on a small copy (what the preview shows) that offers a retake.
  async function review(index, blob, ghostUrl) {
    const step = steps[index];
    reviewed = index;
    if (lastPhoto.src.startsWith("blob:")) URL.revokeObjectURL(lastPhoto.src);
    lastPhoto.src = URL.createObjectURL(blob);
    if (ghostUrl) { lastGhost.src = ghostUrl; lastGhost.hidden = false; } else { lastGhost.hidden = true; lastGhost.removeAttribute("src"); }
    last.hidden = false;
    retake.hidden = true;
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(blob);
    } catch (error) {
      // A format this browser cannot show (HEIC outside Safari): the server still reads it.
      status.textContent = `${step.dataset.label}: taken; this browser cannot show its size.`;
      lastText.textContent = `${step.dataset.label} as taken.`;
      return;
    }
    const size = megapixels(bitmap.width, bitmap.height);
    step.dataset.size = `${bitmap.width}x${bitmap.height}`;
    const verdict = window.CaptureCheck.measure(bitmap);
    bitmap.close();
    const problems = window.CaptureCheck.problems(verdict);
    status.textContent = problems.length
      ? `${step.dataset.label}: ${size}. It looks ${problems.join(" and ")}.`
      : `${step.dataset.label}: ${size}, sharp and well exposed.`;
    lastText.textContent = `${step.dataset.label} as taken${ghostUrl ? ", its guide over it" : ""}. ${size}.`;
    retake.hidden = problems.length === 0;
    if (problems.length) retake.textContent = `Retake ${step.dataset.label}?`;
    root.dataset.lastSize = step.dataset.size;
    root.dataset.lastCheck = problems.join(",") || "ok";
  }

  function took(index, blob) {
    const step = steps[index];
    upload(step, blob); // in the background: the next view is ready at once
    review(index, blob, step.dataset.ghost);
    go(nextAfter(index));
  }

  // The device's camera app: the whole photo it takes, guide shown before (in the frame) and
  // after (over the photo, in the panel below).
  function handOff(index) {
    handOffStep = index;
    fileInput.value = "";
    fileInput.click();
  }

  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    if (!file || handOffStep < 0) return;
    const index = handOffStep;
    handOffStep = -1;
    took(index, file);
  });

  shoot.addEventListener("click", async () => {
    if (current < 0) return;
    const index = current;
    if (!stills) { handOff(index); return; }
    shutter(false, "Taking the photo…");
    let blob = null;
    try {
      blob = await stills.takePhoto(stillSize || undefined);
    } catch (error) {
      status.textContent = "The camera did not give a photo; opening the camera app instead.";
      stills = null;
      showMode();
      shutter(true);
      handOff(index);
      return;
    }
    took(index, blob);
  });

  retake.addEventListener("click", () => {
    if (reviewed < 0) return;
    go(reviewed);
    shoot.scrollIntoView({ block: "nearest" });
    shoot.focus({ preventScroll: true });
  });

  skip.addEventListener("click", () => {
    if (current < 0) return;
    const step = steps[current];
    if (!step.dataset.photo) setState(step, "skipped", "capture__step--skipped");
    status.textContent = `${step.dataset.label} skipped.`;
    go(nextAfter(current));
  });

  steps.forEach((step, index) => {
    step.querySelector("button").addEventListener("click", () => {
      go(index);
      // A retake from the chips: the shutter comes on screen with its frame.
      card.scrollIntoView({ block: "start", behavior: "smooth" });
    });
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

  // ---- aids at the shutter: guide strength, thirds grid, level ----
  const opacity = document.getElementById("capture-opacity");
  const gridToggle = document.getElementById("capture-grid-toggle");
  const grid = document.getElementById("capture-grid");
  const level = document.getElementById("capture-level");
  const levelText = document.getElementById("capture-level-text");
  function applyOpacity() {
    ghost.style.opacity = String(opacity.value / 100);
    lastGhost.style.opacity = ghost.style.opacity;
  }
  opacity.addEventListener("input", applyOpacity);
  applyOpacity();
  gridToggle.addEventListener("change", () => { grid.hidden = !gridToggle.checked; });
  grid.hidden = !gridToggle.checked;

  // The level: how far the phone leans sideways, from gravity as the motion sensor reports it
  // (devicemotion), or the orientation sensor's roll when the phone lies nearly flat. Shown only
  // once a sensor has spoken: a laptop has none, and then there is no level.
  const STRAIGHT_WITHIN = 1.5; // degrees
  function showTilt(degrees) {
    if (!Number.isFinite(degrees)) return;
    level.hidden = false;
    level.style.setProperty("--tilt", `${-degrees}deg`);
    const straight = Math.abs(degrees) < STRAIGHT_WITHIN;
    level.classList.toggle("capture__level--straight", straight);
    levelText.textContent = straight ? "Level" : `Tilted ${Math.abs(degrees).toFixed(0)}° ${degrees > 0 ? "right" : "left"}`;
    root.dataset.tilt = degrees.toFixed(1);
  }
  window.addEventListener("devicemotion", (event) => {
    const g = event.accelerationIncludingGravity;
    if (!g || g.x === null || g.y === null || Math.hypot(g.x, g.y) < 3) return; // lying flat
    const angle = window.screen.orientation ? window.screen.orientation.angle : 0;
    showTilt((Math.atan2(g.x, g.y) * 180) / Math.PI - angle);
  });
  window.addEventListener("deviceorientation", (event) => {
    if (event.gamma === null || event.beta === null || Math.abs(event.beta) > 30) return;
    showTilt(event.gamma);
  });

  window.addEventListener("pagehide", () => { if (stream) stream.getTracks().forEach((t) => t.stop()); });

  function showMode() {
    if (stills && stillSize) {
      mode.textContent = `Photos at the camera's full size: ${megapixels(stillSize.imageWidth, stillSize.imageHeight)}.`;
    } else if (stills) {
      mode.textContent = "Photos at the camera's own photo size.";
    } else {
      mode.textContent = "Take photo opens the camera app for a full-size photo; the guide is shown here before and over the photo after.";
    }
  }

  // The largest photo the camera offers; the preview stays a video of modest size.
  async function openStills(track) {
    if (typeof window.ImageCapture !== "function") return;
    try {
      const capture = new window.ImageCapture(track);
      const capabilities = await capture.getPhotoCapabilities();
      const w = capabilities.imageWidth;
      const h = capabilities.imageHeight;
      stillSize = w && h && w.max && h.max ? { imageWidth: w.max, imageHeight: h.max } : null;
      stills = capture;
    } catch (error) {
      stills = null;
    }
  }

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = "This browser cannot show the camera here; Take photo opens the camera app.";
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment", width: { ideal: 1920 } } });
    } catch (error) {
      status.textContent = "The camera could not be shown here (permission refused?); Take photo opens the camera app.";
      return;
    }
    video.srcObject = stream;
    await openStills(stream.getVideoTracks()[0]);
    showMode();
    await video.play();
    root.dataset.ready = stills ? "stills" : "hand-off";
    // The camera, the guide and the button then fill the screen, like a camera app.
    card.scrollIntoView({ block: "start" });
  }

  const first = steps.findIndex((s) => !s.dataset.photo);
  go(first);
  showMode();
  startCamera().finally(() => { if (!root.dataset.ready) root.dataset.ready = "hand-off"; });
});
