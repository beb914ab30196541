// The check right after a shot: sharpness and exposure measured on a small copy of the photo,
// the size the preview shows it at. Sharpness is the variance of a Laplacian (edges left after
// blur are weak and few); exposure is the mean brightness and the share of clipped pixels.
"use strict";

window.CaptureCheck = (() => {
  const SIDE = 320; // the long side measured, in pixels: what a phone's preview shows
  const BLURRED_BELOW = 25; // Laplacian variance of a shot too soft to compare
  const DARK_BELOW = 45; // mean brightness (0-255) of an underexposed shot
  const BRIGHT_ABOVE = 225; // mean brightness of an overexposed shot

  function measure(source) {
    const width = source.width;
    const height = source.height;
    const scale = Math.min(1, SIDE / Math.max(width, height));
    const w = Math.max(3, Math.round(width * scale));
    const h = Math.max(3, Math.round(height * scale));
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(source, 0, 0, w, h);
    const rgba = context.getImageData(0, 0, w, h).data;
    const grey = new Float32Array(w * h);
    let sum = 0;
    for (let i = 0, p = 0; i < grey.length; i += 1, p += 4) {
      grey[i] = 0.299 * rgba[p] + 0.587 * rgba[p + 1] + 0.114 * rgba[p + 2];
      sum += grey[i];
    }
    let n = 0;
    let mean = 0;
    let m2 = 0;
    for (let y = 1; y < h - 1; y += 1) {
      for (let x = 1; x < w - 1; x += 1) {
        const i = y * w + x;
        const lap = grey[i - 1] + grey[i + 1] + grey[i - w] + grey[i + w] - 4 * grey[i];
        n += 1;
        const delta = lap - mean;
        mean += delta / n;
        m2 += delta * (lap - mean);
      }
    }
    return { sharpness: n ? m2 / n : 0, brightness: sum / grey.length };
  }

  function problems(verdict) {
    // A dark picture has weak edges whatever its focus: call it dark, not blurred.
    if (verdict.brightness < DARK_BELOW) return ["dark"];
    const found = [];
    if (verdict.sharpness < BLURRED_BELOW) found.push("blurred");
    if (verdict.brightness > BRIGHT_ABOVE) found.push("overexposed");
    return found;
  }

  return { measure, problems };
})();
