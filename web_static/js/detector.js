// BlazeFace in the browser: the network of Python's .tflite (core/detector.py) rebuilt as TensorFlow.js layers models
// (export/blazeface_keras.py, checked against LiteRT at export), decoded the same way. Every constant (input size,
// anchor strides, thresholds, NMS) comes from models/<detector>/detector.json, written by `python -m export --detector`
// from core.detector.detector_metadata(), so no constant of the detector is copied here; "tfjs" there names the
// bundles. The steps follow the spec in core/detector.py's docstring:
//   1. letterbox the frame into S x S (preprocess.letterbox), pixels / pixel_scale - 1;
//   2. anchors: per anchor layer, a ceil(S / stride)^2 grid of cell centres, `anchors_per_cell` each;
//   3. per anchor a row r of 4 + 2 * keypoints values: box centre = r[0..1] / S + anchor, size = r[2..3] / S,
//      keypoints likewise; score = sigmoid(clip(c));
//   4. keep score >= threshold, weighted non-maximum suppression (IoU > nms_iou merges, score-weighted mean);
//   5. undo the letterbox; integer boxes [x, y, w, h] (floor the top-left, ceil the bottom-right, clip to the frame).
// When that finds no face, the close-range pass (detector.json "close_range": the short-range model, the frame
// letterboxed with its "padding") runs the same steps, as core.detector.FaceDetector.detect. For a photo, a large
// frame is also searched in overlapping tiles (detector.json "tiling"), as FaceDetector.detect_tiled, the finer grid's
// boxes checked by the face-mesh network (js/face_check.js, detector.json "face_check").
/* global tf */

import {FaceCheck} from './face_check.js';
import {letterbox} from './preprocess.js';
import {registerLayers} from './layers.js';
import {compileLayersModel} from './layers_runner.js';

function makeAnchors(meta) {
  const size = meta.input_size;
  const centres = [];
  for (const layer of meta.anchors.layers) {
    const cells = Math.ceil(size / layer.stride);
    for (let row = 0; row < cells; row++) {
      for (let col = 0; col < cells; col++) {
        const x = (col + meta.anchors.offset) / cells;
        const y = (row + meta.anchors.offset) / cells;
        for (let k = 0; k < layer.anchors_per_cell; k++) centres.push([Math.fround(x), Math.fround(y)]);
      }
    }
  }
  if (centres.length !== meta.anchors.count) {
    throw new Error(`detector.json: ${centres.length} anchors built, ${meta.anchors.count} expected`);
  }
  return centres;
}

function iou(a, b) {
  const x0 = Math.max(a[0], b[0]);
  const y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[2], b[2]);
  const y1 = Math.min(a[3], b[3]);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  const areaA = (a[2] - a[0]) * (a[3] - a[1]);
  const areaB = (b[2] - b[0]) * (b[3] - b[1]);
  return inter / Math.max(areaA + areaB - inter, 1e-9);
}

// MediaPipe's weighted NMS, as core.detector.weighted_nms. candidates: [{corners, points, score}].
export function weightedNms(candidates, threshold) {
  let remaining = candidates.slice().sort((a, b) => b.score - a.score);
  const kept = [];
  while (remaining.length) {
    const best = remaining[0];
    const cluster = [];
    const rest = [];
    for (const candidate of remaining) (iou(best.corners, candidate.corners) > threshold ? cluster : rest).push(candidate);
    let total = 0;
    const corners = [0, 0, 0, 0];
    const points = best.points.map(() => [0, 0]);
    for (const member of cluster) {
      total += member.score;
      for (let k = 0; k < 4; k++) corners[k] += member.corners[k] * member.score;
      member.points.forEach((p, k) => {
        points[k][0] += p[0] * member.score;
        points[k][1] += p[1] * member.score;
      });
    }
    kept.push({corners: corners.map(v => v / total), points: points.map(p => [p[0] / total, p[1] / total]), score: best.score});
    remaining = rest;
  }
  return kept;
}

// core.detector.tile_origins: top-left corners of side x side tiles overlapping by `overlap`, flush with the edges.
export function tileOrigins(width, height, side, overlap) {
  const step = Math.max(1, Math.floor(side * (1 - overlap)));
  const starts = length => {
    if (length <= side) return [0];
    const values = [];
    for (let v = 0; v <= length - side; v += step) values.push(v);
    if (values[values.length - 1] !== length - side) values.push(length - side);
    return values;
  };
  const origins = [];
  for (const y of starts(height)) for (const x of starts(width)) origins.push([x, y]);
  return origins;
}

// core.detector.duplicates: the face overlaps one of `others` by IoU > mergeIou, or either lies inside the other by
// more than mergeContainment of its own area.
export function duplicates(face, others, mergeIou, mergeContainment) {
  const [x, y, w, h] = face.box;
  return others.some(({box: [ox, oy, ow, oh]}) => {
    const inter = Math.max(0, Math.min(x + w, ox + ow) - Math.max(x, ox)) * Math.max(0, Math.min(y + h, oy + oh) - Math.max(y, oy));
    return inter > mergeIou * (w * h + ow * oh - inter) || inter > mergeContainment * Math.min(w * h, ow * oh);
  });
}

// core.detector.merge_detections: best score first, dropping any face that duplicates a kept one.
export function mergeDetections(faces, mergeIou, mergeContainment) {
  const kept = [];
  for (const face of faces.slice().sort((a, b) => b.score - a.score)) {
    if (!duplicates(face, kept, mergeIou, mergeContainment)) kept.push(face);
  }
  return kept;
}

// A width x height part of an RGBA frame ({data, width, height}) at (x, y), as a frame of its own.
function subFrame(frame, x, y, width, height) {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let row = 0; row < height; row++) {
    const from = ((y + row) * frame.width + x) * 4;
    data.set(frame.data.subarray(from, from + width * 4), row * width * 4);
  }
  return {data, width, height};
}

export class FaceDetector {
  constructor(model, meta, closeRange = null) {
    this.model = model;
    this.meta = meta;
    this.padding = meta.padding || 1;
    this.closeRange = closeRange;  // a FaceDetector for the second pass, or null
    this.faceCheckUrl = null;  // the face check's model (set by load), loaded by the first tiled search that needs it
    this.faceCheck = null;  // then: js/face_check.js FaceCheck
    this.size = meta.input_size;
    this.anchors = makeAnchors(meta);
    this.rowLength = 4 + 2 * meta.keypoints.length;  // per anchor: box centre and size, then (x, y) per keypoint
    const direct = compileLayersModel(model);  // js/layers_runner.js; null: tfjs-layers' own predict
    this.direct = direct !== null;
    this.predict = direct || (x => model.predict(x));
  }

  // baseUrl: the detector folder ("models/blazeface/"), holding detector.json and the bundles it names ("tfjs").
  // The models load on the active TensorFlow.js backend.
  static async load(baseUrl) {
    const response = await fetch(baseUrl + 'detector.json');
    if (!response.ok) throw new Error(`${baseUrl}detector.json: HTTP ${response.status}`);
    const meta = await response.json();
    if (meta.nms !== 'weighted') throw new Error(`detector.json: NMS "${meta.nms}" is not implemented`);
    if (!meta.tfjs || !meta.tfjs.model) {
      throw new Error('detector.json names no TensorFlow.js model (run python -m export --detector)');
    }
    registerLayers(tf);
    const close = meta.close_range;
    const [model, closeModel] = await Promise.all([
      tf.loadLayersModel(baseUrl + meta.tfjs.model),
      close ? tf.loadLayersModel(baseUrl + meta.tfjs.close_range_model) : Promise.resolve(null),
    ]);
    const detector = new FaceDetector(model, meta, close ? new FaceDetector(closeModel, close) : null);
    if (meta.face_check && meta.tfjs.face_check_model) detector.faceCheckUrl = baseUrl + meta.tfjs.face_check_model;
    return detector;
  }

  // Raw network outputs for a letterboxed input: {boxes: Float32Array N*rowLength, logits: Float32Array N}.
  async run(input) {
    const S = this.size;
    const outputs = tf.tidy(() => this.predict(tf.tensor4d(input, [1, S, S, 3])));
    const tensors = outputs instanceof tf.Tensor ? [outputs] : outputs;
    const regress = tensors.find(t => t.shape[t.shape.length - 1] === this.rowLength);
    const classify = tensors.find(t => t.shape[t.shape.length - 1] === 1);
    if (!regress || !classify) {
      tensors.forEach(t => t.dispose());
      throw new Error(`unexpected detector outputs: ${tensors.map(t => t.shape.join('x')).join(', ')}`);
    }
    const [boxes, logits] = await Promise.all([regress.data(), classify.data()]);
    tensors.forEach(t => t.dispose());
    return {boxes, logits};
  }

  // All faces of an RGBA frame ({data, width, height}): [{box: [x, y, w, h], score, keypoints}], best score first;
  // the close-range pass when the first finds none.
  async detect(frame) {
    const faces = await this.detectOnce(frame);
    if (faces.length || !this.closeRange) return faces;
    return this.closeRange.detectOnce(frame);
  }

  // All faces of a photo: detect(), plus overlapping tiles of a large frame, one box per face; the finer grid's
  // boxes only where the first has none and the face check says face (core.detector.FaceDetector.detect_tiled).
  async detectTiled(frame) {
    const faces = await this.detect(frame);
    const tiling = this.meta.tiling;
    if (!tiling || Math.max(frame.width, frame.height) < tiling.min_frame_side) return faces;
    const kept = mergeDetections(faces.concat(await this.tileDetections(frame, tiling.tile_side)), tiling.merge_iou,
      tiling.merge_containment);
    if (tiling.fine_tile_side && this.faceCheckUrl) {
      const fine = mergeDetections(await this.tileDetections(frame, tiling.fine_tile_side), tiling.merge_iou,
        tiling.merge_containment);
      for (const found of fine) {
        if (duplicates(found, kept, tiling.merge_iou, tiling.merge_containment)) continue;  // a face the first grid has
        if (!this.faceCheck) this.faceCheck = await FaceCheck.load(this.faceCheckUrl, this.meta.face_check);
        if (await this.faceCheck.confirms(frame, found)) kept.push(found);
      }
    }
    return kept.sort((a, b) => b.score - a.score);
  }

  // The faces found in each side x side tile (overlapping by tiling.overlap), in frame coordinates.
  async tileDetections(frame, side) {
    const faces = [];
    for (const [x, y] of tileOrigins(frame.width, frame.height, side, this.meta.tiling.overlap)) {
      const tile = subFrame(frame, x, y, Math.min(side, frame.width - x), Math.min(side, frame.height - y));
      for (const face of await this.detectOnce(tile)) {
        faces.push({box: [face.box[0] + x, face.box[1] + y, face.box[2], face.box[3]], score: face.score,
          keypoints: face.keypoints.map(([px, py]) => [px + x, py + y])});
      }
    }
    return faces;
  }

  // All faces that this model alone finds in one pass.
  async detectOnce(frame) {
    const S = this.size;
    const meta = this.meta;
    const {input, scale, left, top} = letterbox(frame, S, meta.pixel_scale, this.padding);
    const {boxes, logits} = await this.run(input);
    const clip = meta.score_clip;
    const candidates = [];
    for (let i = 0; i < this.anchors.length; i++) {
      const logit = Math.min(clip, Math.max(-clip, logits[i]));
      const score = 1 / (1 + Math.exp(-logit));
      if (score < meta.score_threshold) continue;
      const r = boxes.subarray(i * this.rowLength, (i + 1) * this.rowLength);
      const [ax, ay] = this.anchors[i];
      const cx = r[0] / S + ax;
      const cy = r[1] / S + ay;
      const hw = r[2] / S / 2;
      const hh = r[3] / S / 2;
      const points = [];
      for (let k = 0; k < meta.keypoints.length; k++) points.push([r[4 + 2 * k] / S + ax, r[5 + 2 * k] / S + ay]);
      candidates.push({corners: [cx - hw, cy - hh, cx + hw, cy + hh], points, score});
    }
    const faces = [];
    for (const {corners, points, score} of weightedNms(candidates, meta.nms_iou)) {
      let [x0, y0, x1, y1] = [
        (corners[0] * S - left) / scale, (corners[1] * S - top) / scale,
        (corners[2] * S - left) / scale, (corners[3] * S - top) / scale,
      ];
      x0 = Math.max(0, Math.floor(x0));
      y0 = Math.max(0, Math.floor(y0));
      x1 = Math.min(frame.width, Math.ceil(x1));
      y1 = Math.min(frame.height, Math.ceil(y1));
      if (x1 - x0 < 1 || y1 - y0 < 1) continue;
      const keypoints = points.map(([px, py]) => [
        Math.round(((px * S - left) / scale) * 10) / 10, Math.round(((py * S - top) / scale) * 10) / 10,
      ]);
      faces.push({box: [x0, y0, x1 - x0, y1 - y0], score, keypoints});
    }
    return faces;
  }
}

// The page's handle on the detector running in js/detector_worker.js (see there why a worker).
// detect(frame) copies the RGBA pixels to the worker and resolves to {faces, ms}; frames queue in order.
export class RemoteDetector {
  // threads: wasm threads for the worker (used where the page is cross-origin isolated).
  static async load(baseUrl, wasmPath, threads) {
    const remote = new RemoteDetector();
    remote.worker = new Worker(new URL('./detector_worker.js', import.meta.url));
    remote.waiting = new Map();
    remote.nextId = 1;
    const loaded = new Promise((resolve, reject) => {
      remote.worker.onmessage = event => {
        const message = event.data;
        if (message.type === 'loaded') {
          remote.meta = message.meta;
          remote.backend = {name: message.backend, ms: message.ms, skipped: message.skipped, threads: message.threads,
            direct: message.direct};
          resolve(remote);
        } else if (message.type === 'faces' || message.type === 'error') {
          const request = remote.waiting.get(message.id);
          if (request) {
            remote.waiting.delete(message.id);
            if (message.type === 'faces') request.resolve({faces: message.faces, ms: message.ms});
            else request.reject(new Error(`face detector: ${message.message}`));
          } else if (message.type === 'error') {
            reject(new Error(`face detector: ${message.message}`));
          }
        }
      };
      remote.worker.onerror = event => {
        event.preventDefault();
        reject(new Error(`face detector worker failed: ${event.message || 'could not start (see the console)'}`));
      };
    });
    remote.worker.postMessage({type: 'load', baseUrl: new URL(baseUrl, location.href).href,
      wasmPath: new URL(wasmPath, location.href).href, threads});
    return loaded;
  }

  // `photo`: a still image, searched in tiles when large (FaceDetector.detectTiled).
  detect(frame, photo = false) {
    const id = this.nextId++;
    const pixels = frame.data.slice().buffer;  // a copy: the page keeps its pixels for the face crops
    return new Promise((resolve, reject) => {
      this.waiting.set(id, {resolve, reject});
      this.worker.postMessage({type: 'detect', id, width: frame.width, height: frame.height, pixels, photo}, [pixels]);
    });
  }
}
