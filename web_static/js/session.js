// The twin of core/session.py: live-session analytics per tracked face, in memory only. Fed every analysed camera
// frame (add(now, trackIds, faces), faces in the CLI JSON shape, ids from tracking.js, null for a face whose track
// is not confirmed yet: not counted); keeps samples (at most one per
// sample_every_s, a row per tracked face: time, track, expression and its probabilities, mask; never an image), the
// time per expression (per face and summed), the faces seen and how many were unmasked, and the alerts with a
// minimum duration (a face unmasked in every sample for >= alertAfterS raises one alert, once per face). Times count
// from the session's start, its first analysed frame (with or without a face); `frames` counts the analysed frames;
// summaryText() says it in the same words as core.session.LiveSession.summary_text. The constants are
// core.session.session_metadata() from models/index.json ("pipeline" -> "session"); the labels come from the
// expression model's metadata.json.

export class LiveSession {
  constructor(emotionLabels, constants, alertAfterS = constants.alert_after_s) {
    this.labels = emotionLabels.slice();
    this.constants = constants;
    this.alertAfterS = alertAfterS;
    this.sampleEveryS = constants.sample_every_s;
    this.reset();
  }

  reset() {
    this.start = null;  // the first analysed frame
    this.lastFrame = null;
    this.frames = 0;  // analysed frames, with or without faces
    this.lastSample = null;
    this.rows = [];
    this.samples = 0;
    this.faces = new Map();  // track id -> {firstS, lastS, expression, unmaskedSince, everUnmasked, alerted, seconds}
    this.seconds = Object.fromEntries(this.labels.map(label => [label, 0]));
    this.alerts = [];
    this.version = 0;
  }

  // One analysed frame at time `now` (seconds). Returns the alerts it raised.
  add(now, trackIds, faces) {
    const c = this.constants;
    if (this.start === null) this.start = now;
    this.lastFrame = now;
    this.frames += 1;
    if (!trackIds.length) return [];
    if (this.lastSample !== null && now - this.lastSample < this.sampleEveryS) return [];
    this.lastSample = now;
    const scale = 10 ** c.time_decimals;
    const t = Math.round((now - this.start) * scale) / scale;
    const raised = [];
    trackIds.forEach((track, i) => {
      const face = faces[i];
      if (track === null || face.too_small) return;  // not a confirmed track yet; not judged: not counted
      const expression = face.emotion ? face.emotion.label : null;  // null: not readable (masked, head turned)
      let record = this.faces.get(track);
      if (!record) {
        record = {firstS: t, lastS: t, expression, unmaskedSince: null, everUnmasked: false, alerted: false,
          seconds: {}};
        this.faces.set(track, record);
      } else {
        const gap = t - record.lastS;
        if (gap <= c.max_gap_s) {
          if (record.expression !== null) {
            this.seconds[record.expression] += gap;
            record.seconds[record.expression] = (record.seconds[record.expression] || 0) + gap;
          }
        }
        else record.unmaskedSince = null;
        record.lastS = t;
        record.expression = expression;
      }
      const mask = face.mask;
      if (mask && mask.label === c.unmasked_label) {
        record.everUnmasked = true;
        if (record.unmaskedSince === null) record.unmaskedSince = t;
        if (!record.alerted && t - record.unmaskedSince >= this.alertAfterS - 1e-9) {
          record.alerted = true;
          const alert = {time_s: t, track, text: fill(c.alert_text, {track, seconds: this.alertAfterS})};
          this.alerts.push(alert);
          raised.push(alert);
        }
      } else {
        record.unmaskedSince = null;
      }
      if (this.rows.length < c.max_rows) {
        this.rows.push([t, track, expression === null ? '' : expression,
          ...this.labels.map(label => (face.emotion ? face.emotion.scores[label] : '')),
          mask ? mask.label : '', mask ? mask.score : '']);
      }
    });
    this.samples += 1;
    this.version += 1;
    return raised;
  }

  summary() {
    const records = [...this.faces.values()];
    return {
      faces: records.length,
      unmasked_faces: records.filter(r => r.everUnmasked).length,
      frames: this.frames,
      duration_s: this.frames ? Math.round((this.lastFrame - this.start) * 100) / 100 : 0,
      samples: this.samples,
      rows: this.rows.length,
      seconds: Object.fromEntries(this.labels.map(l => [l, Math.round(this.seconds[l] * 100) / 100])),
      per_face: this.perFace(),
      alerts: this.alerts.slice(),
    };
  }

  // [{track, seconds: {expression: seconds > 0, most first}}] per face, the face seen longest first.
  perFace() {
    const sum = (face) => Object.values(face.seconds).reduce((a, b) => a + b, 0);
    return [...this.faces.entries()].map(([track, record]) => {
      const spent = Object.entries(record.seconds).map(([label, s]) => [label, Math.round(s * 100) / 100])
        .filter(([, s]) => s > 0)
        .sort((a, b) => b[1] - a[1] || this.labels.indexOf(a[0]) - this.labels.indexOf(b[0]));
      return {track, seconds: Object.fromEntries(spent)};
    }).sort((a, b) => sum(b) - sum(a) || a.track - b.track);
  }

  // The summary in words (core.session.LiveSession.summary_text says the same).
  summaryText() {
    const summary = this.summary();
    if (!summary.faces) return 'No face seen yet in this session.';
    const listed = summary.per_face.slice(0, this.constants.summary_faces).map(face => `track ${face.track}: ` +
      (Object.entries(face.seconds).map(([label, s]) => `${label} ${tenths(s)} s`).join(', ') ||
       'no readable expression'));
    const more = summary.per_face.length - listed.length;
    if (more > 0) listed.push(`${more} more face(s)`);
    return `${summary.faces} face(s) seen, ${summary.unmasked_faces} unmasked · ${summary.frames} frames ` +
      `analysed in ${tenths(summary.duration_s)} s · time per expression, per tracked face: ${listed.join('; ')}`;
  }

  // [time_s, track, expression, its probability] of the samples in the last timeline_window_s seconds.
  timeline() {
    if (!this.rows.length) return [];
    const since = this.rows[this.rows.length - 1][0] - this.constants.timeline_window_s;
    let first = this.rows.length;  // rows are in time order: walk back from the newest
    while (first > 0 && this.rows[first - 1][0] >= since) first--;
    return this.rows.slice(first).filter(row => row[2] !== '')
      .map(row => [row[0], row[1], row[2], row[3 + this.labels.indexOf(row[2])]]);
  }

  header() {
    return ['time_s', 'track', 'expression', ...this.labels.map(l => `p_${l}`), 'mask', 'mask_score'];
  }

  csvText() {
    return [this.header(), ...this.rows].map(row => row.join(',')).join('\n') + '\n';
  }
}

// A time in seconds to one decimal, halves rounded up (as core.session.tenths).
export function tenths(value) {
  return (Math.floor(value * 10 + 0.5) / 10).toFixed(1);
}

// One alert as the session panels list it (core.session.alert_line).
export function alertLine(alert) {
  return `${alert.text} (at ${tenths(alert.time_s)} s since the session started)`;
}

// "{track}"-style placeholders, as Python's str.format.
function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key]));
}

const TIMELINE_MIN_HEIGHT = 150;  // canvas pixels (its height in index.html)
const TIMELINE_ROW_PX = 12;

// The session's expression timeline on a canvas: one row per face (the timeline_faces seen last, as the Gradio app),
// one coloured mark per sample (the colours of core.draw.expression_colors, as the Gradio app's), the last
// timeline_window_s seconds.
export function drawTimeline(canvas, session) {
  const points = session.timeline();
  const {timeline_faces: maxRows, timeline_colors: colours} = session.constants;
  const tracks = [...new Set(points.map(p => p[1]))].slice(-maxRows);
  const perRow = 4;  // legend entries per line
  const legend = 13 * Math.ceil(session.labels.length / perRow) + 2;
  // a row per face, at least TIMELINE_ROW_PX high: the canvas grows with the faces (at most timeline_faces rows)
  const wanted = Math.max(TIMELINE_MIN_HEIGHT, legend + 4 + tracks.length * TIMELINE_ROW_PX);
  if (canvas.height !== wanted) canvas.height = wanted;
  const ctx = canvas.getContext('2d');
  const {width, height} = canvas;
  ctx.clearRect(0, 0, width, height);
  const colour = label => colours[label];
  ctx.font = '10px sans-serif';
  session.labels.forEach((label, i) => {
    const x = 4 + (i % perRow) * (width - 8) / perRow;
    const y = 3 + 13 * Math.floor(i / perRow);
    ctx.fillStyle = colour(label);
    ctx.fillRect(x, y, 8, 8);
    ctx.fillStyle = '#444';
    ctx.fillText(label, x + 10, y + 8);
  });
  if (!points.length) return;
  const t1 = points[points.length - 1][0];
  const t0 = Math.max(0, t1 - session.constants.timeline_window_s);
  const left = 44;
  const rowH = (height - legend - 4) / tracks.length;
  tracks.forEach((track, r) => {
    ctx.fillStyle = '#444';
    ctx.fillText(`track ${track}`, 2, legend + r * rowH + rowH / 2 + 4);
  });
  const markW = Math.max(2, 1.5 * (width - left) * session.sampleEveryS / Math.max(t1 - t0, session.sampleEveryS * 20));
  for (const [t, track, expression, p] of points) {
    const r = tracks.indexOf(track);
    if (r < 0) continue;
    const x = left + (width - left - markW) * (t1 > t0 ? (t - t0) / (t1 - t0) : 1);
    ctx.globalAlpha = 0.35 + 0.65 * p;
    ctx.fillStyle = colour(expression);
    ctx.fillRect(x, legend + r * rowH + 2, markW, rowH - 4);
  }
  ctx.globalAlpha = 1;
}
