// The twin of core/draw.py, drawing only (no inference): boxes and labels over the frame, the alert banner, and the
// page's probability bars. Same conventions as the Python apps: banner at the bottom; green = with mask, red = without
// mask, amber = no mask model, grey = too small to judge; label in two short lines, "happy 87%" over "no mask 95%";
// for a masked face "expression hidden" over "mask 98%"; "head turned" over "no mask 95%" for a face turned too far to read; "too small" for a face too small to judge. The colours and texts (`drawing`) are core.draw.drawing_metadata(), read from
// models/index.json ("pipeline" -> "drawing").

const percent = p => `${Math.round(p * 100)}%`;

// Python's str.format for the exported text templates: "{name}" -> values[name].
export const fillIn = (template, values) => template.replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
const css = ([r, g, b]) => `rgb(${r}, ${g}, ${b})`;

// `number` (1-based, as the "face" column of the tables; 1 = the main face) is put before the expression when given,
// followed by the `track` (the "track" column) when a tracker follows the faces.
export function faceLabel(face, drawing, number = null, track = null) {
  if (number !== null) {
    const template = number === 1 ? drawing.main_face_text : drawing.face_number_text;
    const tracked = track === null ? '' : ` ${fillIn(drawing.track_text, {track})}`;
    return `${fillIn(template, {number})}${tracked} ${faceLabel(face, drawing)}`;
  }
  if (face.too_small) return drawing.too_small_text;
  const emotion = face.emotion;
  const expression = emotion ? `${emotion.label} ${percent(emotion.scores[emotion.label])}`
    : (face.head_turned ? drawing.head_turned_text : drawing.hidden_expression_text);
  if (!face.mask) return expression;
  const maskText = face.mask.label === drawing.masked_label ? drawing.mask_text : drawing.no_mask_text;
  return `${expression}\n${maskText} ${percent(face.mask.score)}`;
}

// [r, g, b] of a face's box and label background.
export function faceColor(face, drawing) {
  const colors = drawing.colors;
  if (face.too_small) return colors.too_small;
  if (!face.mask) return colors.no_mask_model;
  return face.mask.label === drawing.masked_label ? colors.masked : colors.unmasked;
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

const overlaps = (a, b) => a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3];

// The label placement rule of core/draw.py (layout_rule): faces in table order, each label at the first of
// drawing.label_places (above the box, below it: never inside a face's box), at the first of drawing.label_sizes,
// that stays in the frame and overlaps neither another face's box nor a label already placed; then the number alone;
// else left out (rect null). `measure(text, size)` ->
// [width, height] of the label rectangle. Returns per face {text, size, rect: [left, top, width, height] | null}.
export function layoutLabels(boxes, texts, [frameW, frameH], measure, drawing) {
  const placed = [];
  return boxes.map((box, i) => {
    const others = boxes.filter((_, j) => j !== i);
    const [x, y, w, h] = box;
    for (const text of [texts[i], texts[i].split(' ')[0]]) {
      for (const size of drawing.label_sizes) {
        const [width, height] = measure(text, size);
        const left = Math.min(Math.max(0, x), Math.max(0, frameW - width));
        const tops = {above: y - height, below: y + h};
        for (const place of drawing.label_places) {
          const top = tops[place];
          const fits = top >= 0 && top + height <= frameH && width <= frameW;
          if (!fits) continue;
          const rect = [Math.trunc(left), Math.trunc(top), Math.trunc(width), Math.trunc(height)];
          if (!others.concat(placed).some(other => overlaps(rect, other))) {
            placed.push(rect);
            return {text, size, rect};
          }
        }
      }
    }
    return {text: texts[i], size: null, rect: null};
  });
}

// Sizes of the page's labels for a canvas of this size: font (px) and box line width.
export const textStyle = (width, height) => {
  const shortSide = Math.min(width, height);
  return {font: Math.max(12, Math.round(shortSide / 28)), line: Math.max(2, Math.round(shortSide / 240))};
};

// The label rectangle of `text` (lines split on \n) at font `px`, given a text-width function.
export function labelMetrics(text, px, textWidth) {
  const lines = text.split('\n');
  const pad = Math.round(px / 4);
  const lineH = Math.round(px * 1.15);
  return {lines, pad, lineH, width: Math.ceil(Math.max(...lines.map(textWidth)) + 2 * pad), height: lineH * lines.length + 2 * pad};
}

// Numbered labels of `faces` laid out on a width x height frame; `textWidth(text, px)` measures one line.
export function pageLabelLayout(faces, drawing, [width, height], textWidth, trackIds = null) {
  const {font} = textStyle(width, height);
  const measure = (text, size) => {
    const px = Math.max(8, Math.round(font * size));
    const m = labelMetrics(text, px, line => textWidth(line, px));
    return [m.width, m.height];
  };
  const texts = faces.map((face, i) => faceLabel(face, drawing, i + 1, trackIds ? trackIds[i] : null));
  return layoutLabels(faces.map(f => f.box), texts, [width, height], measure, drawing);
}

// Boxes, labels and the banner on a 2D context whose canvas already holds the frame (frame pixel coordinates).
// `trackIds` (one per face, from tracking.js) puts each face's track after its number, as core/draw.py does.
export function drawFaces(ctx, faces, drawing, {hasMaskModel = false, note = null, trackIds = null} = {}) {
  const {width, height} = ctx.canvas;
  const {font, line} = textStyle(width, height);
  const setFont = px => { ctx.font = `${px}px system-ui, sans-serif`; };
  const textWidth = (text, px) => { setFont(px); return ctx.measureText(text).width; };
  ctx.save();
  ctx.textBaseline = 'top';
  for (const face of faces) {
    ctx.strokeStyle = css(faceColor(face, drawing));
    ctx.lineWidth = line;
    ctx.strokeRect(...face.box);
  }
  // numbered as the tables' "face" column (1 = the main face), placed so that no label covers another
  const layout = pageLabelLayout(faces, drawing, [width, height], textWidth, trackIds);
  layout.forEach(({text, size, rect}, i) => {
    if (!rect) return;
    const px = Math.max(8, Math.round(font * size));
    const m = labelMetrics(text, px, l => textWidth(l, px));
    setFont(px);
    ctx.fillStyle = css(faceColor(faces[i], drawing));
    ctx.fillRect(rect[0], rect[1], rect[2], rect[3]);
    ctx.fillStyle = css(drawing.colors.text);
    m.lines.forEach((l, k) => ctx.fillText(l, rect[0] + m.pad, rect[1] + m.pad + k * m.lineH));
  });
  setFont(font);
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
