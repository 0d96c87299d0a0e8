// The twin of core/pipeline.py: one frame in, every face labelled out. Used by the page's camera loop and uploads.
//
// Follow one frame through `FacePipeline.run` (= `process`, then `annotate`), the steps and names of core/pipeline.py:
// 1. `sizeError`: the frame's size is checked as core.pipeline.to_rgb_frame does (MIN_SIDE, MAX_PIXELS);
// 2. `detect`: BlazeFace (detector.js, in the detector worker), for a photo also in tiles of a large frame; faces
//    sorted largest first, at most max_faces (max_faces_photo for a photo) labelled (the result's `note` says so);
// 3. crop: each classifier's `crops` (preprocess.js), all faces of the frame in one batch;
// 4-5. expression and mask: each classifier's `predictProba` on its crops (models.js);
// 6. track and smooth: with a tracker (tracking.js, the camera), each face's track id and its probabilities averaged
//    over frames, as core.tracking.FaceTracker gives them; there the two TTA views alternate from frame to frame
//    (`ttaView`), one pass per face instead of two, as in Python;
// 7. judge: no label for a face too small to judge, no expression for a masked face nor for a head turned too far
//    (`expressionReadable`: `head_turned`);
// 8. `annotate`: the frame with boxes, labels and the banner (draw.js).
// Timings as in Python: `total` is `process` (steps 2-7: detect + classify + track, where classify = crop + expression
// + mask), without drawing; `annotate` adds `draw`.
//
// The constants (max_faces, min_side, max_pixels, score_decimals, the note's text, the drawing's colours and texts) are
// core.pipeline.pipeline_metadata(), read from models/index.json ("pipeline"); each face has the CLI's JSON shape:
//   {box: [x, y, w, h], score, emotion: {label, scores: {label: prob}} | null, mask: {label, score} | null, too_small,
//    head_turned}.

import {RemoteDetector} from './detector.js';
import {FaceClassifier} from './models.js';
import {drawFaces, fillIn} from './draw.js';
import {inProfile} from './tracking.js';
import {eyeRoll} from './preprocess.js';

// core.pipeline.expression_readable: not in profile, and the eye line within max_readable_roll_degrees of level
// (eyeRoll with a limit of 180 degrees: none).
export function expressionReadable(keypoints, constants) {
  return !inProfile(keypoints, constants.tracking.profile_nose_offset) &&
    Math.abs(eyeRoll(keypoints, 180)) <= constants.max_readable_roll_degrees * Math.PI / 180;
}

export class FacePipeline {
  constructor(detector, emotion, mask, constants) {
    this.detector = detector;
    this.emotion = emotion;
    this.mask = mask;  // null without a mask model
    this.constants = constants;
    const decimals = 10 ** constants.score_decimals;
    this.round = value => Math.round(value * decimals) / decimals;
  }

  // modelsUrl: the folder holding index.json; vendorUrl: the TensorFlow.js files; threads: the detector worker's wasm threads.
  static async load(modelsUrl, vendorUrl, threads) {
    const response = await fetch(modelsUrl + 'index.json');
    if (!response.ok) throw new Error(`models/index.json: HTTP ${response.status} (run python -m export --all)`);
    const index = await response.json();
    if (!index.detector) throw new Error('models/index.json lists no face detector');
    if (!index.classifiers.emotion) throw new Error('models/index.json lists no expression model');
    if (!index.pipeline) throw new Error('models/index.json has no "pipeline" constants (run python -m export --all)');
    const [detector, emotion, mask] = await Promise.all([
      RemoteDetector.load(modelsUrl + index.detector, vendorUrl, threads),
      FaceClassifier.load(modelsUrl + index.classifiers.emotion, index.pipeline.probability_floor),
      index.classifiers.mask ? FaceClassifier.load(modelsUrl + index.classifiers.mask, index.pipeline.probability_floor)
        : Promise.resolve(null),
    ]);
    return new FacePipeline(detector, emotion, mask, index.pipeline);
  }

  get hasMaskModel() {
    return this.mask !== null;
  }

  // 1. A message for the user when a frame of this size cannot be analysed, else null.
  sizeError(width, height) {
    const {min_side: minSide, max_pixels: maxPixels} = this.constants;
    if (Math.min(width, height) < minSide) {
      return `The image is only ${width}x${height} pixels; at least ${minSide}x${minSide} are needed to find a face.`;
    }
    if (width * height > maxPixels) {
      return `The image is ${width}x${height} pixels; at most ${maxPixels / 1e6} megapixels are accepted.`;
    }
    return null;
  }

  // 2. Faces of one frame (RGBA pixels), largest first, all of them: resolves to {found, detectMs}. It runs in the
  // detector worker, so the camera loop starts it for the next frame while this one is classified.
  async detect(frame, photo = false) {
    const {faces, ms} = await this.detector.detect(frame, photo);
    faces.sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
    return {found: faces, detectMs: ms, photo};
  }

  // 2-7. Every face of one frame labelled: {faces, note, trackIds, timings: {detect, classify, track, total}, width,
  // height}. `tracker`: the camera's FaceTracker (null for a still image); `detection`: this frame's detect() when it
  // was started already; `photo`: a still image (an upload), not a camera frame.
  async process(frame, {tracker = null, detection = null, photo = false} = {}) {
    const {found, detectMs} = await (detection || this.detect(frame, photo));
    let start = performance.now();
    const detections = found.slice(0, photo ? this.constants.max_faces_photo : this.constants.max_faces);
    const boxes = detections.map(d => d.box);
    // 3-5. crops, then expression and mask probabilities of all faces in one batch per network (in smoothed video
    // one TTA view per frame: ttaView)
    const view = this.ttaView(tracker);
    let [emotionProbs, maskProbs] = await Promise.all([
      this.emotion.predictProba(this.emotion.crops(frame, detections), boxes.length, view),
      this.mask ? this.mask.predictProba(this.mask.crops(frame, detections), boxes.length, view) : Promise.resolve(null),
    ]);
    const classifyMs = performance.now() - start;
    // 6. track ids (the boxes show them, "#2 t5", and the session's alerts name the faces by them) and each tracked
    // face's probabilities averaged over frames
    start = performance.now();
    let trackIds = null;
    if (tracker) {
      const profiles = detections.map(d => inProfile(d.keypoints, this.constants.tracking.profile_nose_offset));
      ({ids: trackIds, emotion: emotionProbs, mask: maskProbs} = tracker.update(boxes, emotionProbs, maskProbs,
        detections.map(d => d.score), profiles));
    }
    const trackMs = performance.now() - start;
    const labels = this.emotion.labels;
    // 7. what can be said of each face: nothing when it is too small to judge; no expression when it is masked, nor
    // when its head is turned too far to read it
    const faces = detections.map((d, i) => {
      const face = {box: d.box, score: this.round(d.score), emotion: null, mask: null,
        too_small: Math.min(d.box[2], d.box[3]) < this.constants.min_judged_side, head_turned: false};
      if (face.too_small) return face;
      if (maskProbs) {
        const m = maskProbs[i];
        const k = m.indexOf(Math.max(...m));
        face.mask = {label: this.mask.labels[k], score: this.round(m[k])};
      }
      if (face.mask && face.mask.label === this.constants.masked_label) return face;
      if (!expressionReadable(d.keypoints, this.constants)) {
        face.head_turned = true;
      } else {
        const probs = emotionProbs[i];
        const scores = Object.fromEntries(labels.map((label, k) => [label, this.round(probs[k])]));
        face.emotion = {label: labels[probs.indexOf(Math.max(...probs))], scores};
      }
      return face;
    });
    const note = found.length > faces.length ? fillIn(this.constants.max_faces_note, {found: found.length, labelled: faces.length}) : null;
    const timings = {detect: detectMs, classify: classifyMs, track: trackMs, total: detectMs + classifyMs + trackMs};
    return {faces, note, trackIds, timings, width: frame.width, height: frame.height};
  }

  // Which TTA view the classifiers run on this frame (core.pipeline.tta_view): both (null) for a still image or
  // unsmoothed video; in smoothed video index.json's tta_views in turn: over two frames every face gets both views at
  // the cost of one, and the tracker's average mixes them.
  ttaView(tracker) {
    if (!tracker || tracker.smoothing <= 0) return null;
    const views = this.constants.tta_views;
    return views[tracker.frames % views.length];
  }

  // 8. The frame with every face's box and label and the banner, on `ctx`'s canvas (resized to the frame); adds the
  // "draw" time to the result.
  annotate(ctx, frame, result) {
    const start = performance.now();
    const canvas = ctx.canvas;
    if (canvas.width !== frame.width || canvas.height !== frame.height) {
      canvas.width = frame.width;
      canvas.height = frame.height;
    }
    ctx.putImageData(frame, 0, 0);
    drawFaces(ctx, result.faces, this.constants.drawing, {hasMaskModel: this.hasMaskModel, note: result.note,
                                                        trackIds: result.trackIds});
    result.timings.draw = performance.now() - start;
  }

  // 1-8. process + annotate: one frame from the camera (or an upload) to the annotated canvas of `ctx`.
  async run(ctx, frame, options = {}) {
    const result = await this.process(frame, options);
    this.annotate(ctx, frame, result);
    return result;
  }
}
