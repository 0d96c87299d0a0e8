// The twin of core/draw.py, drawing only (no inference): boxes and labels over the frame, the alert banner, and the
// page's probability bars. Same conventions as the Python apps: banner at the bottom; green = with mask, red = without
// mask, amber = no mask model; label in two short lines, "happy 87%" over "no mask 95%"; for a masked face
// "happy (?) 41%" over "mask 98%". The colours and texts (`drawing`) are core.draw.drawing_metadata(), read from
// models/index.json ("pipeline" -> "drawing").

const percent = p => `${Math.round(p * 100)}%`;

// Python's str.format for the exported text templates: "{name}" -> values[name].
export const fillIn = (template, values) => template.replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
const css = ([r, g, b]) => `rgb(${r}, ${g}, ${b})`;

export function faceLabel(face, drawing) {
  const {label, scores} = face.emotion;
  const confidence = percent(scores[label]);
  if (!face.mask) return `${label} ${confidence}`;
  if (face.mask.label === 'with_mask') {
    return `${label} ${drawing.uncertain_mark} ${confidence}\n${drawing.mask_text} ${percent(face.mask.score)}`;
  }
  return `${label} ${confidence}\n${drawing.no_mask_text} ${percent(face.mask.score)}`;
}

// [r, g, b] of a face's box and label background.
export function faceColor(face, drawing) {
  const colors = drawing.colors;
  if (!face.mask) return colors.no_mask_model;
  return face.mask.label === 'with_mask' ? colors.with_mask : colors.without_mask;
}

// The banner: how many faces are without a mask (with a mask model), and the pipeline's note. {text | null, color}.
export function bannerText(faces, hasMaskModel, note, drawing) {
  const parts = [];
  let color = drawing.colors.banner_note;
  if (hasMaskModel) {
    const unmasked = faces.filter(f => f.mask && f.mask.label === 'without_mask').length;
    if (unmasked) {
      parts.push(fillIn(drawing.alert_text, {count: unmasked, plural: unmasked > 1 ? 's' : ''}));
      color = drawing.colors.banner_alert;
    }
  }
  if (note) parts.push(note);
  return {text: parts.length ? parts.join(' | ') : null, color};
}

// Boxes, labels and the banner on a 2D context whose canvas already holds the frame (frame pixel coordinates).
export function drawFaces(ctx, faces, drawing, {hasMaskModel = false, note = null} = {}) {
  const {width, height} = ctx.canvas;
  const shortSide = Math.min(width, height);
  const font = Math.max(12, Math.round(shortSide / 28));
  const line = Math.max(2, Math.round(shortSide / 240));
  ctx.save();
  ctx.font = `${font}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  for (const face of faces) {
    const [x, y, w, h] = face.box;
    const color = css(faceColor(face, drawing));
    ctx.strokeStyle = color;
    ctx.lineWidth = line;
    ctx.strokeRect(x, y, w, h);
    const lines = faceLabel(face, drawing).split('\n');
    const pad = Math.round(font / 4);
    const lineH = Math.round(font * 1.15);
    const textW = Math.max(...lines.map(l => ctx.measureText(l).width)) + 2 * pad;
    const boxH = lineH * lines.length + 2 * pad;
    let top = y - boxH >= 0 ? y - boxH : y;
    top = Math.min(Math.max(0, top), Math.max(0, height - boxH));
    const left = Math.min(Math.max(0, x), Math.max(0, width - textW));
    ctx.fillStyle = color;
    ctx.fillRect(left, top, textW, boxH);
    ctx.fillStyle = css(drawing.colors.text);
    lines.forEach((l, i) => ctx.fillText(l, left + pad, top + pad + i * lineH));
  }
  const {text, color} = bannerText(faces, hasMaskModel, note, drawing);
  if (text) {  // the banner sits at the bottom left, as in core/draw.py
    const pad = Math.round(font / 4);
    const boxH = font + 2 * pad;
    ctx.fillStyle = css(color);
    ctx.fillRect(0, height - boxH, ctx.measureText(text).width + 2 * pad, boxH);
    ctx.fillStyle = css(drawing.colors.text);
    ctx.fillText(text, pad, height - boxH + pad);
  }
  ctx.restore();
}

// Probability bars of one face (the largest) in a container element; labels come from the model metadata.
export function drawBars(container, title, labels, scores) {
  container.replaceChildren();
  const heading = document.createElement('h3');
  heading.textContent = title;
  container.append(heading);
  const best = labels.reduce((a, b) => (scores[b] > scores[a] ? b : a), labels[0]);
  for (const label of labels) {
    const row = document.createElement('div');
    row.className = 'bar-row' + (label === best ? ' best' : '');
    const name = document.createElement('span');
    name.className = 'bar-label';
    name.textContent = label;
    const track = document.createElement('span');
    track.className = 'bar-track';
    const fill = document.createElement('span');
    fill.className = 'bar-fill';
    fill.style.width = `${(scores[label] * 100).toFixed(1)}%`;
    track.append(fill);
    const value = document.createElement('span');
    value.className = 'bar-value';
    value.textContent = percent(scores[label]);
    row.append(name, track, value);
    container.append(row);
  }
}

export function clearBars(container, text) {
  container.replaceChildren();
  const p = document.createElement('p');
  p.className = 'muted';
  p.textContent = text;
  container.append(p);
}
