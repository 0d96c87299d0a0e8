// Pixel operations that mirror Python exactly (core/preprocess.py and core/detector.py, which use OpenCV), so that
// the browser feeds the networks the same numbers as Python for the same frame:
//   - resizeRGB: cv2.resize on uint8 RGB with INTER_AREA (area averaging when shrinking, OpenCV's area-mode linear
//     weights when enlarging) or INTER_LINEAR, OpenCV's fixed-point rounding; source pixels outside the frame are
//     edge-replicated (cv2.BORDER_REPLICATE), which is what crop_face's copyMakeBorder does;
//   - toGray: cv2.COLOR_RGB2GRAY on uint8 (BT.601, 14-bit fixed point);
//   - cropSquare / faceCrop: core.preprocess.crop_square / crop_face, with the constants from the exported
//     metadata.json ("crop");
//   - sampleTurnedSquare / eyeRoll / levelEyes: core.preprocess.sample_turned_square / eye_roll / level_eyes (a
//     model whose "crop" has "level_eyes": its crops turned so that the eyes are level; the face check's input);
//   - letterbox: core.detector.FaceDetector.letterbox (the BlazeFace input).
// Frames are RGBA ImageData-like objects {data: Uint8ClampedArray, width, height}.

const RESIZE_COEF_BITS = 11;
const RESIZE_COEF_SCALE = 1 << RESIZE_COEF_BITS;

// Python's round(): halves to even.
export function roundHalfEven(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// cvRound on the result of a float computation (lrint: halves to even), saturated to uint8.
function saturateU8(value) {
  const r = roundHalfEven(value);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

// OpenCV's computeResizeAreaTab for one axis: per destination index, a list of [source index, weight].
function areaTable(srcSize, dstSize, scale) {
  const table = [];
  for (let d = 0; d < dstSize; d++) {
    const fs1 = d * scale;
    const fs2 = fs1 + scale;
    const cell = Math.min(scale, srcSize - fs1);
    let s1 = Math.ceil(fs1);
    let s2 = Math.floor(fs2);
    s2 = Math.min(s2, srcSize - 1);
    s1 = Math.min(s1, s2);
    const taps = [];
    if (s1 - fs1 > 1e-3) taps.push([s1 - 1, (s1 - fs1) / cell]);
    for (let s = s1; s < s2; s++) taps.push([s, 1 / cell]);
    if (fs2 - s2 > 1e-3) taps.push([s2, Math.min(Math.min(fs2 - s2, 1), cell) / cell]);
    table.push(taps);
  }
  return table;
}

// OpenCV's linear tables (INTER_LINEAR, or INTER_AREA when enlarging): per destination index [s0, s1, w0, w1] with
// integer weights (float32 fractions times 2^11, rounded). Along x a tap past the last column falls back to that
// column alone (OpenCV's border path); along y the fraction is kept and the row index is clamped, as OpenCV does.
function linearTable(srcSize, dstSize, scale, areaMode, isX) {
  const table = [];
  const inv = 1 / scale;
  for (let d = 0; d < dstSize; d++) {
    let s;
    let f;
    if (!areaMode) {
      f = (d + 0.5) * scale - 0.5;
      s = Math.floor(f);
      f -= s;
    } else {
      s = Math.floor(d * scale);
      f = (d + 1) - (s + 1) * inv;
      f = f <= 0 ? 0 : f - Math.floor(f);
    }
    f = Math.fround(f);
    if (isX) {
      if (s < 0) {
        f = 0;
        s = 0;
      }
      if (s >= srcSize - 1) {
        f = 0;
        s = srcSize - 1;
      }
    }
    const w1 = roundHalfEven(f * RESIZE_COEF_SCALE);
    const w0 = roundHalfEven(Math.fround(1 - f) * RESIZE_COEF_SCALE);
    table.push([clamp(s, 0, srcSize - 1), clamp(s + 1, 0, srcSize - 1), w0, w1]);
  }
  return table;
}

function clamp(value, low, high) {
  return value < low ? low : value > high ? high : value;
}

// Resize the region (x0, y0, srcW, srcH) of an RGBA frame (the region may reach outside the frame: edge
// replication) to dstW x dstH RGB uint8, as cv2.resize(region, (dstW, dstH), interpolation) would.
// interpolation: 'area' (INTER_AREA) or 'linear' (INTER_LINEAR). Returns Uint8Array dstW*dstH*3.
export function resizeRGB(frame, x0, y0, srcW, srcH, dstW, dstH, interpolation = 'area') {
  const {data, width, height} = frame;
  const out = new Uint8Array(dstW * dstH * 3);
  const col = x => clamp(x0 + x, 0, width - 1);
  const row = y => clamp(y0 + y, 0, height - 1);
  if (srcW === dstW && srcH === dstH) {
    for (let y = 0; y < dstH; y++) {
      const base = row(y) * width;
      for (let x = 0; x < dstW; x++) {
        const i = (base + col(x)) * 4;
        const o = (y * dstW + x) * 3;
        out[o] = data[i];
        out[o + 1] = data[i + 1];
        out[o + 2] = data[i + 2];
      }
    }
    return out;
  }
  const scaleX = srcW / dstW;
  const scaleY = srcH / dstH;
  if (interpolation === 'area' && scaleX >= 1 && scaleY >= 1) {
    const integer = Math.abs(scaleX - Math.round(scaleX)) < 1e-12 && Math.abs(scaleY - Math.round(scaleY)) < 1e-12;
    if (integer) return areaFast(frame, x0, y0, Math.round(scaleX), Math.round(scaleY), dstW, dstH, out);
    return areaGeneral(frame, x0, y0, srcW, srcH, dstW, dstH, scaleX, scaleY, out);
  }
  const areaMode = interpolation === 'area';
  const xs = linearTable(srcW, dstW, scaleX, areaMode, true);
  const ys = linearTable(srcH, dstH, scaleY, areaMode, false);
  const rowCache = new Map();
  const horizontal = sy => {  // one source row resized horizontally: exact integers, weights scaled by 2^11
    let buf = rowCache.get(sy);
    if (buf) return buf;
    buf = new Int32Array(dstW * 3);
    const base = row(sy) * width;
    for (let x = 0; x < dstW; x++) {
      const [s0, s1, w0, w1] = xs[x];
      const i0 = (base + col(s0)) * 4;
      const i1 = (base + col(s1)) * 4;
      for (let c = 0; c < 3; c++) buf[x * 3 + c] = data[i0 + c] * w0 + data[i1 + c] * w1;
    }
    if (rowCache.size > 4) rowCache.clear();
    rowCache.set(sy, buf);
    return buf;
  };
  // vertical step as OpenCV's SIMD uint8 path (VResizeLinearVec_32s8u):
  // ((((r0 >> 4) * b0) >> 16) + (((r1 >> 4) * b1) >> 16) + 2) >> 2
  for (let y = 0; y < dstH; y++) {
    const [s0, s1, b0, b1] = ys[y];
    const r0 = horizontal(s0);
    const r1 = horizontal(s1);
    const o = y * dstW * 3;
    for (let k = 0; k < dstW * 3; k++) {
      const v = ((((r0[k] >> 4) * b0) >> 16) + (((r1[k] >> 4) * b1) >> 16) + 2) >> 2;
      out[o + k] = clamp(v, 0, 255);
    }
  }
  return out;
}

// Flat tap tables for one axis: taps of destination d are k in [start[d], start[d + 1]), reading source offset
// index[k] (already clamped into the frame: edge replication, and multiplied by `stride`) with weight weight[k].
function flatTaps(table, origin, limit, stride) {
  const start = new Int32Array(table.length + 1);
  let n = 0;
  table.forEach((taps, d) => {
    start[d] = n;
    n += taps.length;
  });
  start[table.length] = n;
  const index = new Int32Array(n);
  const weight = new Float64Array(n);
  let k = 0;
  for (const taps of table) {
    for (const [s, w] of taps) {
      index[k] = clamp(origin + s, 0, limit - 1) * stride;
      weight[k] = w;
      k++;
    }
  }
  return {start, index, weight};
}

// The frame region resized with per-axis tap tables: each source row is resized horizontally once, then the rows
// are combined vertically (the order of OpenCV's resizeArea). `finish` turns an accumulated value into uint8.
function separable(frame, xs, ys, dstW, dstH, out, finish) {
  const data = frame.data;
  const line = dstW * 3;
  const rows = new Map();  // source row offset -> horizontally resized row (consecutive output rows share at most one)
  const horizontal = rowOffset => {
    let buf = rows.get(rowOffset);
    if (buf) return buf;
    buf = new Float64Array(line);
    for (let x = 0; x < dstW; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = xs.start[x]; k < xs.start[x + 1]; k++) {
        const i = rowOffset + xs.index[k];
        const w = xs.weight[k];
        r += data[i] * w;
        g += data[i + 1] * w;
        b += data[i + 2] * w;
      }
      buf[x * 3] = r;
      buf[x * 3 + 1] = g;
      buf[x * 3 + 2] = b;
    }
    if (rows.size > 4) rows.clear();
    rows.set(rowOffset, buf);
    return buf;
  };
  const acc = new Float64Array(line);
  for (let y = 0; y < dstH; y++) {
    acc.fill(0);
    for (let k = ys.start[y]; k < ys.start[y + 1]; k++) {
      const buf = horizontal(ys.index[k]);
      const w = ys.weight[k];
      for (let j = 0; j < line; j++) acc[j] += buf[j] * w;
    }
    const o = y * line;
    for (let j = 0; j < line; j++) out[o + j] = finish(acc[j]);
  }
  return out;
}

// Integer scale factors (OpenCV's resizeAreaFast): the plain mean of each sx x sy block.
function areaFast(frame, x0, y0, sx, sy, dstW, dstH, out) {
  const table = (n, step) => Array.from({length: n}, (_, d) => Array.from({length: step}, (_, j) => [d * step + j, 1]));
  const xs = flatTaps(table(dstW, sx), x0, frame.width, 4);
  const ys = flatTaps(table(dstH, sy), y0, frame.height, frame.width * 4);
  const area = sx * sy;
  if (sx === 2 && sy === 2) return separable(frame, xs, ys, dstW, dstH, out, v => (v + 2) >> 2);  // OpenCV's SIMD 2x2
  const inverse = Math.fround(1 / area);  // float32 sum * (1.f / area), then cvRound
  return separable(frame, xs, ys, dstW, dstH, out, v => saturateU8(Math.fround(v * inverse)));
}

function areaGeneral(frame, x0, y0, srcW, srcH, dstW, dstH, scaleX, scaleY, out) {
  const xs = flatTaps(areaTable(srcW, dstW, scaleX), x0, frame.width, 4);
  const ys = flatTaps(areaTable(srcH, dstH, scaleY), y0, frame.height, frame.width * 4);
  return separable(frame, xs, ys, dstW, dstH, out, saturateU8);
}

// cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) on uint8: (R*4899 + G*9617 + B*1868 + 2^13) >> 14.
export function toGray(rgb) {
  const n = rgb.length / 3;
  const gray = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    gray[i] = (rgb[i * 3] * 4899 + rgb[i * 3 + 1] * 9617 + rgb[i * 3 + 2] * 1868 + 8192) >> 14;
  }
  return gray;
}

// core.preprocess.crop_square: integer square (x0, y0, side) around a face box.
export function cropSquare(box, crop) {
  const [x, y, w, h] = box;
  const side = Math.max(1, roundHalfEven(crop.scale * Math.max(w, h)));
  const cx = x + w / 2;
  const cy = y + h / 2 + crop.shift_y * side;
  return [roundHalfEven(cx - side / 2), roundHalfEven(cy - side / 2), side];
}

// core.preprocess.eye_roll: the angle (radians) of the line from the right eye to the left eye (the first two
// keypoints), limited to +-maxDegrees.
export function eyeRoll(keypoints, maxDegrees) {
  const [[rightX, rightY], [leftX, leftY]] = keypoints;
  const limit = maxDegrees * Math.PI / 180;
  return Math.min(Math.max(Math.atan2(leftY - rightY, leftX - rightX), -limit), limit);
}

// core.preprocess.sample_turned_square: a square of `side` pixels around (cx, cy), turned by `angle`, sampled at
// S x S points: point (u, v) samples the image at centre + R(angle) . (((u + 0.5) / S - 0.5) * side, ((v + 0.5) / S -
// 0.5) * side), bilinearly between the four nearest pixel centres. `pixelAt(x, y, c)` reads the image (and decides
// what lies outside it). Returns a Float32Array S*S*channels.
export function sampleTurnedSquare(pixelAt, channels, cx, cy, side, angle, S) {
  const out = new Float32Array(S * S * channels);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  for (let v = 0; v < S; v++) {
    const dv = ((v + 0.5) / S - 0.5) * side;
    for (let u = 0; u < S; u++) {
      const du = ((u + 0.5) / S - 0.5) * side;
      const sx = cx + cos * du - sin * dv - 0.5;
      const sy = cy + sin * du + cos * dv - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < channels; c++) {
        const top = pixelAt(x0, y0, c) * (1 - fx) + pixelAt(x0 + 1, y0, c) * fx;
        const bottom = pixelAt(x0, y0 + 1, c) * (1 - fx) + pixelAt(x0 + 1, y0 + 1, c) * fx;
        out[(v * S + u) * channels + c] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

// core.preprocess.level_eyes: a size x size crop (channels interleaved) turned about its centre by `roll` so that the
// eyes are level; samples outside the crop take the nearest edge pixel.
export function levelEyes(pixels, size, channels, roll) {
  const at = (x, y, c) => pixels[(clamp(y, 0, size - 1) * size + clamp(x, 0, size - 1)) * channels + c];
  return sampleTurnedSquare(at, channels, size / 2, size / 2, size, roll, size);
}

// core.preprocess.crop_face: one face as float32 (size*size*channels), pixels 0-255, written into `target` at
// `offset` (so that all faces of a frame fill one batch buffer); turned so that the eyes are level when `crop` says
// "level_eyes" (the face's `keypoints` are then needed).
export function faceCrop(frame, box, size, channels, crop, target, offset = 0, keypoints = null) {
  if (crop.resize !== 'area') throw new Error(`crop resize ${crop.resize} is not implemented (expected "area")`);
  const [x0, y0, side] = cropSquare(box, crop);
  const rgb = resizeRGB(frame, x0, y0, side, side, size, size, 'area');
  let pixels = channels === 1 ? toGray(rgb) : rgb;
  if (crop.level_eyes) {
    if (!keypoints) throw new Error('this model levels the eyes of its crops: the face\'s keypoints are needed');
    pixels = levelEyes(pixels, size, channels, eyeRoll(keypoints, crop.max_eye_roll_degrees));
  }
  for (let i = 0; i < pixels.length; i++) target[offset + i] = pixels[i];
  return target;
}

// core.detector.FaceDetector.letterbox + normalisation: the frame fitted into size x size (black bars), as float32
// RGB `pixel / pixelScale - 1`, the frame shrunk by `padding` (the close-range pass). Returns {input: Float32Array
// size*size*3, scale, left, top}.
export function letterbox(frame, size, pixelScale, padding = 1) {
  const {width, height} = frame;
  const scale = size / (padding * Math.max(width, height));
  const newW = Math.max(1, roundHalfEven(width * scale));
  const newH = Math.max(1, roundHalfEven(height * scale));
  const rgb = resizeRGB(frame, 0, 0, width, height, newW, newH, scale < 1 ? 'area' : 'linear');
  const left = Math.floor((size - newW) / 2);
  const top = Math.floor((size - newH) / 2);
  const input = new Float32Array(size * size * 3).fill(-1);  // black: 0 / pixelScale - 1
  for (let y = 0; y < newH; y++) {
    for (let x = 0; x < newW; x++) {
      const i = (y * newW + x) * 3;
      const o = ((y + top) * size + (x + left)) * 3;
      input[o] = rgb[i] / pixelScale - 1;
      input[o + 1] = rgb[i + 1] / pixelScale - 1;
      input[o + 2] = rgb[i + 2] / pixelScale - 1;
    }
  }
  return {input, scale, left, top};
}
