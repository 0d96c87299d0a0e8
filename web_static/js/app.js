// The page: webcam (or an uploaded image) -> BlazeFace -> crops -> expression (and mask) networks -> drawing.
// Mirrors core.pipeline.FacePipeline (largest faces first, at most MAX_FACES labelled) so that the browser and
// `python app.py predict` agree. Inference runs on tfjs's wasm backend (cpu as fallback).
//
// Test hook: window.lastResult = {faces: [{box: [x, y, w, h], score, emotion: {label, scores}, mask: {label, score} |
// null}], ms, timings: {detect, classify, total}, source: "camera" | "image", width, height, frame}.
// window.pageState = {ready, backend, error, camera, stats()}.
/* global tf */

import {RemoteDetector} from './detector.js';
import {FaceClassifier} from './classifier.js';
import {drawFaces, drawBars, clearBars} from './draw.js';

const MAX_FACES = 20;  // core.pipeline.MAX_FACES
const MIN_SIDE = 24;  // core.pipeline.MIN_SIDE: smaller images cannot hold a detectable face
const MAX_PIXELS = 100_000_000;  // core.pipeline.MAX_PIXELS
const MODELS_URL = 'models/';
const VENDOR_URL = 'vendor/';
const SCORE_DECIMALS = 4;
const STATS_WINDOW = 120;  // frames kept for the medians
// ?pipeline=0 runs detect -> classify -> draw strictly one frame after the other (for bench/browser_fps.py)
const PIPELINE = new URLSearchParams(location.search).get('pipeline') !== '0';

const $ = id => document.getElementById(id);
const view = $('view');
const ctx = view.getContext('2d', {willReadFrequently: true});
const video = $('video');
const grab = document.createElement('canvas');
const grabCtx = grab.getContext('2d', {willReadFrequently: true});
const state = {
  ready: false, backend: null, error: null, camera: 'off', detector: null, emotion: null, mask: null,
  stream: null, running: false, generation: 0, frame: 0, frameTimes: [], stageTimes: [],
};
window.pageState = state;
window.lastResult = null;

function setStatus(text) {
  $('status').textContent = text;
}

function showMessage(text, kind = 'error') {
  const box = $('message');
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
}

const round = v => Math.round(v * 10 ** SCORE_DECIMALS) / 10 ** SCORE_DECIMALS;

const WASM_INIT_TIMEOUT_MS = 30000;  // tfjs hangs without an error when its .wasm files cannot be fetched

async function chooseBackend() {
  // wasm first (9-13 ms per face here, against 165-333 ms for cpu and webgl without a GPU); cpu as fallback.
  // ?backend=cpu forces the fallback (tests).
  if (new URLSearchParams(location.search).get('backend') !== 'cpu') {
    try {
      // single-threaded wasm on the page: the detector worker has the other core (and no blob: workers under the CSP)
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      tf.wasm.setWasmPaths(VENDOR_URL);
      const timeout = new Promise(resolve => setTimeout(() => resolve('timeout'), WASM_INIT_TIMEOUT_MS));
      const ok = await Promise.race([tf.setBackend('wasm'), timeout]);
      if (ok === true) return 'wasm';
      console.warn(`wasm backend unavailable (${ok}), falling back to cpu`);
    } catch (error) {
      console.warn('wasm backend unavailable, falling back to cpu:', error);
    }
  }
  if (await tf.setBackend('cpu')) return 'cpu';
  throw new Error('no TensorFlow.js backend could be initialised');
}

async function loadModels() {
  const response = await fetch(MODELS_URL + 'index.json');
  if (!response.ok) throw new Error(`models/index.json: HTTP ${response.status} (run python -m export --all)`);
  const index = await response.json();
  if (!index.detector) throw new Error('models/index.json lists no face detector');
  if (!index.classifiers.emotion) throw new Error('models/index.json lists no expression model');
  // tflite threads in the detector worker (needs cross-origin isolation); 1 by default, see BENCHMARKS.md
  const asked = Number(new URLSearchParams(location.search).get('threads') || 1);
  const threads = window.crossOriginIsolated ? Math.max(1, Math.min(asked, navigator.hardwareConcurrency || 1)) : 1;
  state.detectorThreads = threads;
  const [detector, emotion, mask] = await Promise.all([
    RemoteDetector.load(MODELS_URL + index.detector, VENDOR_URL, threads),
    FaceClassifier.load(MODELS_URL + index.classifiers.emotion),
    index.classifiers.mask ? FaceClassifier.load(MODELS_URL + index.classifiers.mask) : Promise.resolve(null),
  ]);
  return {detector, emotion, mask};
}

// Detection of one frame (RGBA pixels) in the worker: faces largest first (as core.pipeline), all of them.
async function detectFaces(frame) {
  const {faces, ms} = await state.detector.detect(frame);
  faces.sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
  return {found: faces, detectMs: ms};
}

// Crops + expression (and mask) networks for the detected faces. Returns the result in the CLI's JSON shape.
async function classifyFaces(frame, found) {
  const t1 = performance.now();
  const detections = found.slice(0, MAX_FACES);
  const boxes = detections.map(d => d.box);
  const [emotionProbs, maskProbs] = await Promise.all([
    state.emotion.classify(frame, boxes),
    state.mask ? state.mask.classify(frame, boxes) : Promise.resolve(null),
  ]);
  const t2 = performance.now();
  const labels = state.emotion.labels;
  const faces = detections.map((d, i) => {
    const probs = emotionProbs[i];
    const scores = Object.fromEntries(labels.map((label, k) => [label, round(probs[k])]));
    const best = labels[probs.indexOf(Math.max(...probs))];
    let mask = null;
    if (maskProbs) {
      const m = maskProbs[i];
      const k = m.indexOf(Math.max(...m));
      mask = {label: state.mask.labels[k], score: round(m[k])};
    }
    return {box: d.box, score: round(d.score), emotion: {label: best, scores}, mask};
  });
  const note = found.length > faces.length ? `${found.length} faces found; the ${faces.length} largest are labelled` : null;
  return {faces, note, timings: {classify: t2 - t1}, width: frame.width, height: frame.height};
}

function showResult(result, source) {
  drawFaces(ctx, result.faces, {hasMaskModel: !!state.mask, note: result.note});
  const largest = result.faces[0];
  if (largest) {
    drawBars($('emotion-bars'), 'Expression (largest face)', state.emotion.labels, largest.emotion.scores);
  } else {
    clearBars($('emotion-bars'), source === 'image' ? 'No face found in this image.' : 'No face in view.');
  }
  if (state.mask) {
    if (largest && largest.mask) {
      const scores = Object.fromEntries(state.mask.labels.map(l => [l, l === largest.mask.label ? largest.mask.score : 1 - largest.mask.score]));
      drawBars($('mask-bars'), 'Mask (largest face)', state.mask.labels, scores);
    } else {
      clearBars($('mask-bars'), '');
    }
  }
}

function showTimings(t, suffix = '') {
  $('timings').textContent = `detect ${t.detect.toFixed(1)} ms · classify ${t.classify.toFixed(1)} ms · ` +
    `draw ${t.draw.toFixed(1)} ms · total ${t.total.toFixed(1)} ms${suffix}`;
}

function record(result, source) {
  state.frame += 1;
  window.lastResult = {
    faces: result.faces, ms: round(result.timings.total), timings: result.timings, note: result.note,
    source, width: result.width, height: result.height, frame: state.frame, backend: state.backend,
  };
  state.stageTimes.push(result.timings);
  if (state.stageTimes.length > STATS_WINDOW) state.stageTimes.shift();
}

const median = values => {
  if (!values.length) return null;
  const sorted = values.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// frames/s over the last second of processed camera frames, and median stage times (for the readout and bench/).
state.stats = () => {
  const now = performance.now();
  const recent = state.frameTimes.filter(t => now - t <= 1000);
  const times = state.stageTimes;
  return {
    fps: recent.length,
    frames: state.frame,
    median_ms: times.length ? {
      detect: median(times.map(t => t.detect)), classify: median(times.map(t => t.classify)),
      draw: median(times.map(t => t.draw)), total: median(times.map(t => t.total)),
    } : null,
    backend: state.backend,
    cross_origin_isolated: window.crossOriginIsolated,
  };
};

// ------------------------------------------------------------------------------------------------------------------
// Camera
// ------------------------------------------------------------------------------------------------------------------

function cameraErrorMessage(error) {
  const name = error && error.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return 'Camera permission was denied. Allow camera access for this page in the browser settings and press ' +
      '"Start camera", or upload an image instead.';
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError' || name === 'DevicesNotFoundError') {
    return 'No camera was found. Connect a camera and press "Start camera", or upload an image instead.';
  }
  if (name === 'NotReadableError' || name === 'AbortError') {
    return 'The camera is in use by another program or could not be started. Close it there and press ' +
      '"Start camera", or upload an image instead.';
  }
  return `The camera could not be started (${name || 'error'}: ${error && error.message}). You can upload an image instead.`;
}

async function startCamera() {
  stopCamera();
  showMessage('');
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    state.camera = 'unavailable';
    showMessage('This browser gives no camera access to this page (open it as http://127.0.0.1:PORT/ or over ' +
      'https). You can upload an image instead.');
    return;
  }
  state.camera = 'starting';
  setStatus('Starting the camera…');
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({video: {width: {ideal: 640}, height: {ideal: 480}}, audio: false});
  } catch (error) {
    state.camera = 'error';
    state.cameraError = error && error.name;
    showMessage(cameraErrorMessage(error));
    setStatus(`Models ready (${state.backend}). Camera not available.`);
    return;
  }
  video.srcObject = state.stream;
  await video.play();
  if (video.readyState < 2) await new Promise(resolve => video.addEventListener('loadeddata', resolve, {once: true}));
  state.camera = 'on';
  state.running = true;
  state.frameTimes = [];
  state.stageTimes = [];
  setStatus(`Camera on · ${state.backend} backend`);
  state.loop = cameraLoop();
}

function stopCamera() {
  state.running = false;
  if (state.stream) state.stream.getTracks().forEach(track => track.stop());
  state.stream = null;
  video.srcObject = null;
  if (state.camera === 'on') state.camera = 'off';
}

// Camera frames are counted as they arrive (requestVideoFrameCallback), so that no frame is analysed twice.
const HAS_RVFC = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;
let presentedFrames = 0;
function trackFrames(generation) {
  if (!HAS_RVFC || !state.running || state.generation !== generation) return;
  video.requestVideoFrameCallback((now, metadata) => {
    presentedFrames = metadata.presentedFrames;
    trackFrames(generation);
  });
}

// Resolves when a camera frame newer than `seen` is available (animation frames where rVFC is missing).
function frameAfter(seen) {
  if (HAS_RVFC && presentedFrames !== seen) return Promise.resolve();
  return new Promise(resolve => {
    if (HAS_RVFC) video.requestVideoFrameCallback(() => resolve());
    else requestAnimationFrame(() => resolve());
  });
}

// The current camera image as RGBA pixels, read through an off-screen canvas.
function grabFrame() {
  const width = video.videoWidth;
  const height = video.videoHeight;
  if (!width || !height) return null;
  if (grab.width !== width || grab.height !== height) {
    grab.width = width;
    grab.height = height;
  }
  grabCtx.drawImage(video, 0, 0, width, height);
  const id = presentedFrames;
  return {frame: grabCtx.getImageData(0, 0, width, height), start: performance.now(), id};
}

// Camera loop, pipelined over the two threads: while the page classifies and draws frame N, the worker already
// detects frame N+1. Each frame is drawn with its own boxes (the analysed pixels, not the live video).
async function cameraLoop() {
  const generation = ++state.generation;
  trackFrames(generation);
  let current = null;
  let detection = null;
  let lastId = null;  // the camera frame analysed last
  while (state.running && state.generation === generation) {
    try {
      if (!current) {
        if (lastId !== null) await frameAfter(lastId);
        current = grabFrame();
        if (!current) continue;
        lastId = current.id;
        detection = detectFaces(current.frame);
      }
      const {found, detectMs} = await detection;
      if (!state.running || state.generation !== generation) break;
      // start detecting the next frame now (if the camera has produced one), then finish this one
      let next = null;
      if (PIPELINE && (!HAS_RVFC || presentedFrames !== current.id)) {  // a newer frame is there: no waiting
        next = grabFrame();
        if (next) lastId = next.id;
      }
      const nextDetection = next ? detectFaces(next.frame) : null;
      const result = await classifyFaces(current.frame, found);
      if (!state.running || state.generation !== generation) break;  // stopped (or an image uploaded) meanwhile
      result.timings.detect = detectMs;
      const drawStart = performance.now();
      if (view.width !== current.frame.width || view.height !== current.frame.height) {
        view.width = current.frame.width;
        view.height = current.frame.height;
      }
      ctx.putImageData(current.frame, 0, 0);
      showResult(result, 'camera');
      result.timings.draw = performance.now() - drawStart;
      result.timings.total = performance.now() - current.start;
      showTimings(result.timings);
      record(result, 'camera');
      state.frameTimes.push(performance.now());
      if (state.frameTimes.length > 240) state.frameTimes.shift();
      $('fps').textContent = `${state.stats().fps} frames/s`;
      current = next;
      detection = nextDetection;
    } catch (error) {
      console.error(error);
      showMessage(`Analysis failed: ${error.message}`);
      state.error = String(error && error.message || error);
      current = null;
      await new Promise(resolve => setTimeout(resolve, 500));
    }
  }
  // let an in-flight detection finish before the next loop starts
  if (detection) await detection.catch(() => null);
}

// ------------------------------------------------------------------------------------------------------------------
// Image upload (also the fallback without a camera)
// ------------------------------------------------------------------------------------------------------------------

async function analyseFile(file) {
  if (!file) return;
  if (!file.type.startsWith('image/')) {
    showMessage(`"${file.name}" is not an image (type ${file.type || 'unknown'}). Choose a JPEG, PNG or WebP photo.`);
    return;
  }
  stopCamera();
  let bitmap;
  try {
    // no colour-profile conversion: the pixels as stored, as OpenCV reads them in Python
    bitmap = await createImageBitmap(file, {colorSpaceConversion: 'none'});
  } catch (error) {
    showMessage(`"${file.name}" could not be decoded as an image (${error.message || error}).`);
    return;
  }
  if (Math.min(bitmap.width, bitmap.height) < MIN_SIDE) {
    showMessage(`The image is only ${bitmap.width}x${bitmap.height} pixels; at least ${MIN_SIDE}x${MIN_SIDE} are needed to find a face.`);
    bitmap.close();
    return;
  }
  if (bitmap.width * bitmap.height > MAX_PIXELS) {
    showMessage(`The image is ${bitmap.width}x${bitmap.height} pixels; at most ${MAX_PIXELS / 1e6} megapixels are accepted.`);
    bitmap.close();
    return;
  }
  showMessage('');
  const start = performance.now();
  view.width = bitmap.width;
  view.height = bitmap.height;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const frame = ctx.getImageData(0, 0, view.width, view.height);
  const {found, detectMs} = await detectFaces(frame);
  const result = await classifyFaces(frame, found);
  result.timings.detect = detectMs;
  const drawStart = performance.now();
  showResult(result, 'image');
  result.timings.draw = performance.now() - drawStart;
  result.timings.total = performance.now() - start;
  showTimings(result.timings, ` · ${file.name}`);
  $('fps').textContent = 'image';
  record(result, 'image');
  setStatus(`Image: ${result.faces.length} face(s) · ${state.backend} backend`);
}

// ------------------------------------------------------------------------------------------------------------------

async function main() {
  $('start-camera').addEventListener('click', () => startCamera());
  $('stop-camera').addEventListener('click', () => {
    stopCamera();
    setStatus(`Camera stopped · ${state.backend} backend`);
  });
  $('upload').addEventListener('change', event => analyseFile(event.target.files[0]));
  try {
    setStatus('Loading TensorFlow.js…');
    state.backend = await chooseBackend();
    setStatus(`Loading the models (${state.backend} backend)…`);
    Object.assign(state, await loadModels());
    $('model-info').textContent = `expression: ${state.emotion.meta.name} (${state.emotion.meta.tfjs.weights}) · ` +
      `mask: ${state.mask ? state.mask.meta.name : 'no model'} · detector: BlazeFace ${state.detector.meta.input_size}px · ` +
      `backend: ${state.backend} · detector threads: ${state.detectorThreads}`;
    if (!state.mask) $('mask-bars').hidden = true;
    state.ready = true;
    setStatus(`Models ready (${state.backend} backend)`);
  } catch (error) {
    state.error = String(error && error.message || error);
    setStatus('Could not load the models.');
    showMessage(`The models could not be loaded: ${state.error}`);
    return;
  }
  const params = new URLSearchParams(location.search);
  if (params.get('camera') !== '0') await startCamera();
}

main();
