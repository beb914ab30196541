// Photos: upload with a progress bar per file, camera capture with a "ghost" guide of the
// earlier photo, and thumbnails that appear when the worker has finished.
"use strict";

(() => {
  const MB = 1024 * 1024;
  // What the server accepts (it decides by content; this only spares sending the obviously wrong).
  const PHOTO_NAME = /\.(jpe?g|png|webp|hei[cf])$/i;

  function sizeText(bytes) {
    return bytes < MB ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / MB).toFixed(1)} MB`;
  }

  function looksLikePhoto(file) {
    return file.type.startsWith("image/") || PHOTO_NAME.test(file.name || "");
  }

  // ---- upload page --------------------------------------------------------------------------
  function setUpUpload(form) {
    const list = document.getElementById("upload-list");
    const fileInput = document.getElementById("file-input");
    const cameraInput = document.getElementById("camera-input");
    const dropzone = document.getElementById("dropzone");
    const summary = document.getElementById("upload-summary");
    const button = document.getElementById("upload-button");
    const why = document.getElementById("upload-why");
    const maxMb = Number(form.dataset.maxMb);
    const maxBytes = maxMb * MB;
    const queue = [];

    // Each file carries its own stage, area and view, chosen before sending. A new file starts
    // from the last file's choices (or the form's, for the first), so a set of different
    // views needs only the view changed on each.
    const DETAIL_FIELDS = ["stage", "area", "view"];
    let fileCount = 0;

    function detailSelect(field, entryName, initial) {
      fileCount += 1;
      const id = `file-${field}-${fileCount}`;
      const wrap = document.createElement("span");
      wrap.className = "uploads__detail";
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = form.elements[field].labels[0].firstChild.textContent.trim();
      const hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = ` of ${entryName}`;
      label.append(hidden);
      const select = form.elements[field].cloneNode(true);
      select.id = id;
      select.name = "";
      select.removeAttribute("aria-describedby");
      select.removeAttribute("aria-invalid");
      select.value = initial;
      wrap.append(label, select);
      return { wrap, select };
    }

    function addFiles(files, preset) {
      for (const file of files) {
        const item = document.createElement("li");
        item.className = "uploads__item";
        item.append(smallPicture(file));
        const name = document.createElement("span");
        name.className = "uploads__name";
        name.textContent = file.name || "camera photo";
        const progress = document.createElement("progress");
        progress.max = 100;
        progress.value = 0;
        progress.setAttribute("aria-label", `Upload progress of ${name.textContent}`);
        const message = document.createElement("span");
        message.className = "uploads__message";
        message.textContent = `${sizeText(file.size)}, ready to upload`;
        const details = document.createElement("span");
        details.className = "uploads__details";
        const selects = {};
        const last = queue.length ? queue[queue.length - 1].selects : null;
        for (const field of DETAIL_FIELDS) {
          const initial = (preset && preset[field]) || (last ? last[field].value : form.elements[field].value);
          const { wrap, select } = detailSelect(field, name.textContent, initial);
          selects[field] = select;
          details.append(wrap);
        }
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "button button--quiet button--small uploads__remove";
        remove.textContent = "Remove";
        const removeName = document.createElement("span");
        removeName.className = "visually-hidden";
        removeName.textContent = ` ${name.textContent} from the upload`;
        remove.append(removeName);
        item.append(name, details, progress, message, remove);
        list.append(item);
        const entry = { file, item, progress, message, selects, remove };
        // Dropped before it is sent: a wrong photo never reaches the record.
        remove.addEventListener("click", () => {
          const at = queue.indexOf(entry);
          if (at < 0 || entry.sent) return;
          queue.splice(at, 1);
          item.remove();
          summary.textContent = readyText();
          button.focus();
        });
        queue.push(entry);
        showPreview(file);
      }
      summary.textContent = readyText();
    }

    function readyText() {
      const waiting = queue.filter((entry) => !entry.sent).length;
      return waiting ? `${waiting} photo${waiting === 1 ? "" : "s"} ready to upload.` : "No photos chosen.";
    }

    function uploadOne(entry) {
      return new Promise((resolve) => {
        const data = new FormData();
        for (const field of ["csrfmiddlewaretoken", "episode", "stage", "area", "view", "taken_at", "notes"]) {
          const input = form.elements[field];
          if (input) data.append(field, input.value);
        }
        // This file's own facts (the server stores them for this file, the form's otherwise).
        for (const field of DETAIL_FIELDS) data.append(`file_${field}`, entry.selects[field].value);
        data.append("files", entry.file, entry.file.name || "camera.jpg");
        const xhr = new XMLHttpRequest();
        xhr.open("POST", form.action || window.location.href);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.upload.addEventListener("progress", (event) => {
          if (event.lengthComputable) entry.progress.value = Math.round((event.loaded / event.total) * 100);
          entry.message.textContent = entry.progress.value < 100 ? `Uploading, ${entry.progress.value}%` : "Checking the photo…";
        });
        xhr.addEventListener("load", () => {
          let body = {};
          try { body = JSON.parse(xhr.responseText); } catch (error) { body = {}; }
          const result = (body.results || [])[0];
          const ok = xhr.status === 200 && result && result.ok;
          entry.progress.value = 100;
          entry.item.classList.add(ok ? "uploads__item--ok" : "uploads__item--error");
          entry.message.textContent = ok ? "Uploaded and stored encrypted" : (body.problem || (result && result.message) || "Upload failed. Try again.");
          resolve(ok);
        });
        xhr.addEventListener("error", () => {
          entry.item.classList.add("uploads__item--error");
          entry.message.textContent = "The connection failed. Check the network and try again.";
          resolve(false);
        });
        xhr.send(data);
      });
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const pending = queue.filter((entry) => !entry.sent);
      if (!pending.length) { summary.textContent = "Choose or take at least one photo first."; return; }
      button.disabled = true;
      why.textContent = "Uploading: wait until these photos are sent.";
      why.hidden = false;
      let accepted = 0;
      for (const entry of pending) entry.remove.hidden = true;
      for (const entry of pending) {
        entry.sent = true;
        for (const select of Object.values(entry.selects)) select.disabled = true;
        if (!looksLikePhoto(entry.file)) {
          entry.item.classList.add("uploads__item--error");
          entry.message.textContent = "This is not a photo (JPEG, PNG, WebP or HEIC). Not sent.";
          continue;
        }
        if (entry.file.size > maxBytes) {
          entry.item.classList.add("uploads__item--error");
          entry.message.textContent = `Too large: the limit is ${maxMb} MB per photo. Not sent.`;
          continue;
        }
        if (await uploadOne(entry)) accepted += 1;
      }
      button.disabled = false;
      why.hidden = true;
      summary.textContent = `${accepted} of ${pending.length} uploaded.`;
      if (accepted) {
        const link = document.createElement("a");
        link.href = form.dataset.doneUrl;
        link.textContent = "See them on the patient's record";
        summary.append(" ", link);
      }
    });

    fileInput.addEventListener("change", () => { addFiles(fileInput.files); fileInput.value = ""; });
    cameraInput.addEventListener("change", () => { addFiles(cameraInput.files); cameraInput.value = ""; });
    for (const name of ["dragenter", "dragover"]) {
      dropzone.addEventListener(name, (event) => { event.preventDefault(); dropzone.classList.add("dropzone--over"); });
    }
    for (const name of ["dragleave", "drop"]) {
      dropzone.addEventListener(name, () => dropzone.classList.remove("dropzone--over"));
    }
    dropzone.addEventListener("drop", (event) => { event.preventDefault(); addFiles(event.dataTransfer.files); });
    // "Drag photos here" only where dragging files is possible: a mouse or trackpad, not a phone.
    const dragHint = document.getElementById("drag-hint");
    if (dragHint && window.matchMedia("(hover: hover) and (pointer: fine)").matches) dragHint.hidden = false;

    setUpGhost(form, addFiles);
  }

  // A small picture of a chosen file, so the right photo is sent; browsers cannot show HEIC.
  function smallPicture(file) {
    if (file.type.startsWith("image/") && !/hei[cf]/.test(file.type)) {
      const img = document.createElement("img");
      img.className = "uploads__pic";
      img.alt = "";
      const url = URL.createObjectURL(file);
      img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
      // A file that is not a readable picture gets its badge, never a broken-image icon.
      img.addEventListener("error", () => { URL.revokeObjectURL(url); img.replaceWith(badgeFor(file, true)); }, { once: true });
      img.src = url;
      return img;
    }
    return badgeFor(file, false);
  }

  function badgeFor(file, unreadable) {
    const badge = document.createElement("span");
    badge.className = "uploads__pic";
    badge.setAttribute("aria-hidden", "true");
    badge.textContent = unreadable ? "✕" : (file.name.split(".").pop() || "photo").slice(0, 4).toUpperCase();
    if (unreadable) badge.classList.add("uploads__pic--bad");
    return badge;
  }

  // ---- the ghost: the earlier photo, see-through, over the camera or the chosen photo -------
  let showPreview = () => {};

  function setUpGhost(form, addFiles) {
    const panel = document.getElementById("ghost");
    const overlay = document.getElementById("ghost-image");
    const label = document.getElementById("ghost-label");
    const opacity = document.getElementById("ghost-opacity");
    const video = document.getElementById("ghost-video");
    const preview = document.getElementById("ghost-preview");
    const cameraButton = document.getElementById("ghost-camera");
    const shootButton = document.getElementById("ghost-shoot");
    const stage = document.getElementById("ghost-stage");
    let stream = null;

    // The stage takes the earlier photo's shape; the new photo is fitted into the same box.
    overlay.addEventListener("load", () => {
      if (overlay.naturalWidth && overlay.naturalHeight) {
        stage.style.setProperty("--ghost-ratio", String(overlay.naturalWidth / overlay.naturalHeight));
      }
    });

    function stopCamera() {
      if (stream) stream.getTracks().forEach((track) => track.stop());
      stream = null;
      video.srcObject = null;
      video.hidden = true;
      shootButton.hidden = true;
      cameraButton.textContent = "Use camera with guide";
    }
    window.addEventListener("pagehide", stopCamera);

    async function refresh() {
      if (form.elements.stage.value === "before") { panel.hidden = true; stopCamera(); return; }
      const params = new URLSearchParams({ area: form.elements.area.value, view: form.elements.view.value });
      const response = await fetch(`${form.dataset.ghostUrl}?${params}`, { headers: { Accept: "application/json" } });
      const body = response.ok ? await response.json() : { found: false };
      if (!body.found) { panel.hidden = true; stopCamera(); return; }
      overlay.src = body.url;
      label.textContent = `Earlier photo: ${body.label}. Match the face to it, then take or choose the new photo.`;
      panel.hidden = false;
    }

    opacity.addEventListener("input", () => { overlay.style.opacity = String(opacity.value / 100); });
    overlay.style.opacity = String(opacity.value / 100);
    for (const name of ["stage", "area", "view"]) form.elements[name].addEventListener("change", refresh);
    refresh();

    showPreview = (file) => {
      if (panel.hidden || !file.type.startsWith("image/") || file.type.includes("hei")) return;
      if (preview.src.startsWith("blob:")) URL.revokeObjectURL(preview.src);
      preview.src = URL.createObjectURL(file);
      preview.onerror = () => { preview.hidden = true; preview.removeAttribute("src"); };
      preview.hidden = false;
      video.hidden = true;
      stopCamera();
    };

    cameraButton.addEventListener("click", async () => {
      if (stream) { stopCamera(); return; }
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        label.textContent = "This browser cannot show the camera here; use “Take a photo” instead.";
        return;
      }
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment", width: { ideal: 1920 } } });
      } catch (error) {
        label.textContent = "The camera could not be opened (permission refused?). Use “Take a photo” instead.";
        return;
      }
      video.srcObject = stream;
      video.hidden = false;
      preview.hidden = true;
      await video.play();
      shootButton.hidden = false;
      cameraButton.textContent = "Turn the camera off";
      stage.scrollIntoView({ block: "nearest", behavior: "smooth" });
    });

    shootButton.addEventListener("click", () => {
      const canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      canvas.toBlob((blob) => {
        const stamp = new Date().toISOString().replace(/[:.]/g, "-");
        addFiles([new File([blob], `camera-${stamp}.jpg`, { type: "image/jpeg" })]);
      }, "image/jpeg", 0.92);
    });
  }

  // ---- patient page: thumbnails appear when processing is done ------------------------------
  function setUpStatusPolling(grid) {
    const url = grid.dataset.statusUrl;
    let delay = 1500;
    async function poll() {
      const waiting = [...document.querySelectorAll('.photo-card[data-status="processing"]')];
      if (!waiting.length) return;
      const ids = waiting.map((card) => card.dataset.photoId).join(",");
      try {
        const response = await fetch(`${url}?ids=${ids}`, { headers: { Accept: "application/json" } });
        const body = await response.json();
        for (const photo of body.photos) {
          if (photo.status === "processing") continue;
          const card = document.querySelector(`.photo-card[data-photo-id="${photo.id}"]`);
          const state = card.querySelector(".photo-card__state");
          card.dataset.status = photo.status;
          if (photo.status === "ready") {
            const img = document.createElement("img");
            img.src = photo.thumb;
            img.alt = ""; // the caption beside it names the photo
            img.width = 200;
            img.height = 200;
            state.replaceWith(img);
          } else {
            state.textContent = "Could not be processed";
            state.classList.add("photo-card__state--failed");
          }
        }
      } catch (error) {
        // Try again later; the page still works with a reload.
      }
      delay = Math.min(delay * 1.5, 10000);
      window.setTimeout(poll, delay);
    }
    window.setTimeout(poll, delay);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("upload-form");
    if (form) setUpUpload(form);
    const grid = document.querySelector(".photo-grid[data-status-url]");
    if (grid) setUpStatusPolling(grid);
  });
})();
