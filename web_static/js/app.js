// The page: camera (or an uploaded image), status and readouts. The analysis of a frame is js/pipeline.js (the twin
// of core/pipeline.py), so that the browser and `python app.py predict` agree. Inference runs on TensorFlow.js; the
// page (classifiers) and the detector worker each measure their backend at start (js/backends.js), shown on the page.
//
// Test hook: window.lastResult = {faces: [{box: [x, y, w, h], score, emotion: {label, scores} | null,
// mask: {label, score} | null, too_small, head_turned}], ms (grab to shown), timings: {detect, classify, track, total, draw, shown}, source: "camera" | "image", width, height, frame}.
// window.pageState = {ready, backend, detectorBackend, backendChoice, error, camera, frame, stats(), session (js/session.js LiveSession)}.

/* global tf */

import {FacePipeline} from './pipeline.js';
import {chooseBackend} from './models.js';
import {describeChoice} from './backends.js';
import {drawBars, clearBars, fillIn} from './draw.js';
import {FrameStats} from './stats.js';
import {FaceTracker} from './tracking.js';
import {LiveSession, alertLine, drawTimeline} from './session.js';

const MODELS_URL = 'models/';
const VENDOR_URL = 'vendor/';
const params = new URLSearchParams(location.search);
// ?pipeline=0 runs detect -> classify -> draw strictly one frame after the other (for bench/browser_fps.py)
const PIPELINE = params.get('pipeline') !== '0';
// The camera starts when the user clicks "Start camera" (?camera=1 starts it at load: for tests and bench/)
const START_CAMERA_AT_LOAD = params.get('camera') === '1';
const SESSION_REFRESH_MS = 250;  // the session panel (summary, timeline) is redrawn at most this often
const MAX_DETECTOR_THREADS = 4;

const $ = id => document.getElementById(id);
const view = $('view');
const ctx = view.getContext('2d', {willReadFrequently: true});
const video = $('video');
const grab = document.createElement('canvas');
const grabCtx = grab.getContext('2d', {willReadFrequently: true});
const frameStats = new FrameStats();
const state = {
  ready: false, backend: null, error: null, camera: 'off', pipeline: null,
  stream: null, running: false, generation: 0, frame: 0,
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

// The probability bars of the largest face.
function showBars(result, source) {
  const {emotion, mask} = state.pipeline;
  const largest = result.faces[0];
  if (largest && largest.emotion) {
    drawBars($('emotion-bars'), 'Expression (largest face)', emotion.labels, largest.emotion.scores);
  } else if (largest) {
    clearBars($('emotion-bars'), largest.too_small ? 'The largest face is too small to judge.'
      : largest.head_turned ? 'The largest face is turned too far to read its expression.'
        : 'The largest face wears a mask: its expression is hidden.');
  } else {
    clearBars($('emotion-bars'), source === 'image' ? 'No face found in this image.' : 'No face in view.');
  }
  if (mask) {
    if (largest && largest.mask) {
      const scores = Object.fromEntries(mask.labels.map(l => [l, l === largest.mask.label ? largest.mask.score : 1 - largest.mask.score]));
      drawBars($('mask-bars'), 'Mask (largest face)', mask.labels, scores);
    } else {
      clearBars($('mask-bars'), '');
    }
  }
}

function showTimings(t, suffix = '') {
  $('timings').textContent = `detect ${t.detect.toFixed(1)} ms · classify ${t.classify.toFixed(1)} ms · ` +
    `total ${t.total.toFixed(1)} ms · draw ${t.draw.toFixed(1)} ms · grab to shown ${t.shown.toFixed(1)} ms${suffix}`;
}

// One analysed and annotated frame (FacePipeline.run), grabbed at `start`: bars, timings, test hook. The camera loop
// and uploads both end here; `shown` is the time from the frame's grabbing to its annotated canvas.
function showFrame(result, start, source, suffix = '') {
  result.timings.shown = performance.now() - start;
  showBars(result, source);
  showTimings(result.timings, suffix);
  state.frame += 1;
  window.lastResult = {
    faces: result.faces, ms: state.pipeline.round(result.timings.shown), timings: result.timings, note: result.note,
    source, width: result.width, height: result.height, frame: state.frame, backend: state.backend,
  };
  frameStats.addTimings(result.timings);
}

// frames/s over the last second of processed camera frames, and median stage times (for the readout and bench/).
state.stats = () => ({
  fps: frameStats.fps(),
  frames: state.frame,
  median_ms: frameStats.medians(),
  backend: state.backend,
  detector_backend: state.detectorBackend,
  cross_origin_isolated: window.crossOriginIsolated,
});

// ------------------------------------------------------------------------------------------------------------------
// Camera
// ------------------------------------------------------------------------------------------------------------------

// The camera size asked for (ideal), core.camera's (index.json, "pipeline" -> "camera"); the readout says what it gives.
const cameraSize = () => state.pipeline.constants.camera.size;

// getUserMedia's error in words: core.camera's message for its name (index.json, "pipeline" -> "camera"), with this
// page's remedy.
function cameraErrorMessage(error) {
  const {errors, error_aliases: aliases} = state.pipeline.constants.camera;
  const name = (error && error.name) || 'error';
  const text = errors[aliases[name] || name] || errors.other;
  return fillIn(text, {retry: 'press "Start camera"', instead: 'upload an image instead', name,
                       message: (error && error.message) || ''});
}

async function startCamera() {
  stopCamera();
  showMessage('');
  if (!state.ready) {  // the camera's size, its messages and the networks come with the models
    showMessage('The models are still loading: press "Start camera" again when the status line says they are ready.');
    return;
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    state.camera = 'unavailable';
    showMessage('This browser gives no camera access to this page (open it as http://127.0.0.1:PORT/ or over ' +
      'https). You can upload an image instead.');
    return;
  }
  state.camera = 'starting';
  setStatus('Starting the camera…');
  try {
    state.stream = await navigator.mediaDevices.getUserMedia(
      {video: {width: {ideal: cameraSize().width}, height: {ideal: cameraSize().height}}, audio: false});
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
  state.cameraSince = performance.now();
  state.bestCameraPixels = 0;
  $('session').hidden = false;  // the camera's session panel (hidden while an uploaded image is shown)
  frameStats.reset();
  setStatus(`Camera on · ${state.backend} backend`);
  state.loop = cameraLoop();
}

function stopCamera() {
  state.running = false;
  if (state.stream) state.stream.getTracks().forEach(track => track.stop());
  state.stream = null;
  video.srcObject = null;
  if (state.camera === 'on') {
    state.camera = 'off';
    $('fps').textContent = 'camera stopped';
  }
}

// The readout: the camera resolution received (a note when it is below the one asked, or below the best this run),
// frames/s once a second of frames has been counted.
function cameraReadout(width, height) {
  state.bestCameraPixels = Math.max(state.bestCameraPixels, width * height);
  const size = `camera ${width}x${height}`;
  const rate = performance.now() - state.cameraSince < 1000 ? 'measuring frames/s…' : `${frameStats.fps()} frames/s`;
  let note = '';
  if (width * height < state.bestCameraPixels) note = ' · the camera picture got smaller: small faces may be missed';
  else if (width < cameraSize().width || height < cameraSize().height) {
    note = ` · less than the ${cameraSize().width}x${cameraSize().height} asked: small faces may be missed`;
  }
  return `${size} · ${rate}${note}`;
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
    if (HAS_RVFC) {
      video.requestVideoFrameCallback((now, metadata) => {
        presentedFrames = metadata.presentedFrames;  // before grabFrame() reads it, whichever callback runs first
        resolve();
      });
    }
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

// Camera loop, pipelined over the two threads: while the page classifies and draws frame N, the worker detects
// frame N+1, grabbed the moment the camera presents it, even while frame N is still being detected (it waits in the
// worker's queue). Before, frame N+1 was grabbed only when it was already there as frame N's detection ended, else
// after frame N was drawn: with a detection a little shorter than the camera's frame period the worker sat idle
// about every other frame. Each frame is drawn with its own boxes (the analysed pixels, not the live video).
// ?pipeline=0: one frame after the other.
async function cameraLoop() {
  const generation = ++state.generation;
  const live = () => state.running && state.generation === generation;
  trackFrames(generation);
  let current = null;  // {frame, start, id, detection}
  let lastId = null;  // the camera frame grabbed last
  while (live()) {
    try {
      if (!current) {
        current = await grabAfter(lastId);
        if (!current) continue;
        lastId = current.id;
      }
      // the next frame is grabbed as soon as the camera has it, its detection queued in the worker behind this one's
      const next = PIPELINE ? grabAfter(lastId, live) : null;
      await current.detection;
      if (!live()) break;
      const result = await state.pipeline.process(current.frame, {tracker: state.tracker, detection: current.detection});
      if (!live()) break;  // stopped (or an image uploaded) meanwhile
      state.pipeline.annotate(ctx, current.frame, result);
      showFrame(result, current.start, 'camera');
      addToSession(result);
      frameStats.addCameraFrame();
      $('fps').textContent = cameraReadout(current.frame.width, current.frame.height);
      current = next && live() ? await next : null;
      if (current) lastId = current.id;
    } catch (error) {
      console.error(error);
      showMessage(`Analysis failed: ${error.message}`);
      state.error = String(error && error.message || error);
      current = null;
      await new Promise(resolve => setTimeout(resolve, 500));
    }
  }
  // let an in-flight detection finish before the next loop starts
  if (current && current.detection) await current.detection.catch(() => null);
}

// The first camera frame after the one numbered `seen` (null: the current one), grabbed as soon as it is presented,
// its detection started in the worker: {frame, start, id, detection}; null when there is no picture yet or `live()`
// says the loop has ended meanwhile.
async function grabAfter(seen, live = () => true) {
  if (seen !== null) await frameAfter(seen);
  if (!live()) return null;
  const grabbed = grabFrame();
  if (!grabbed) return null;
  grabbed.detection = state.pipeline.detect(grabbed.frame);
  grabbed.detection.catch(() => null);  // awaited (and its error reported) by the loop; never unhandled meanwhile
  return grabbed;
}

// ------------------------------------------------------------------------------------------------------------------
// Live session (camera frames only): tracked faces -> js/session.js; in memory until "Reset session"
// ------------------------------------------------------------------------------------------------------------------

let sessionDrawn = {version: -1, at: 0};
function addToSession(result) {
  if (!state.session) return;
  const raised = state.session.add(performance.now() / 1000, result.trackIds, result.faces);
  const now = performance.now();
  if (raised.length || (state.session.version !== sessionDrawn.version && now - sessionDrawn.at >= SESSION_REFRESH_MS)) {
    showSession();
  }
}

function showSession() {
  const session = state.session;
  const summary = session.summary();
  $('session-summary').textContent = session.summaryText();
  const list = $('session-alerts');
  while (list.children.length > summary.alerts.length) list.lastChild.remove();
  for (const alert of summary.alerts.slice(list.children.length)) {
    const item = document.createElement('li');
    item.dataset.track = alert.track;
    item.textContent = alertLine(alert);
    list.append(item);
  }
  drawTimeline($('session-timeline'), session);
  sessionDrawn = {version: session.version, at: performance.now()};
}

function downloadSession() {
  const blob = new Blob([state.session.csvText()], {type: 'text/csv'});
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = `session-${new Date().toISOString().replace(/[:.]/g, '-')}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function setUpSession(pipeline) {
  state.tracker = new FaceTracker(pipeline.constants.tracking);
  state.session = new LiveSession(pipeline.emotion.labels, pipeline.constants.session);
  const alertAfter = $('alert-after');
  alertAfter.value = state.session.alertAfterS;
  alertAfter.addEventListener('change', () => {
    const value = Number(alertAfter.value);
    if (value > 0) state.session.alertAfterS = value;
  });
  $('session-csv').addEventListener('click', downloadSession);
  $('session-reset').addEventListener('click', () => {
    state.session.reset();
    state.tracker.reset();
    showSession();
  });
  if (!pipeline.mask) $('alert-after').closest('label').hidden = true;
  showSession();
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
  const sizeError = state.pipeline.sizeError(bitmap.width, bitmap.height);
  if (sizeError) {
    showMessage(sizeError);
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
  const result = await state.pipeline.run(ctx, frame, {photo: true});
  showFrame(result, start, 'image', ` · ${file.name}`);
  $('fps').textContent = 'image';
  $('session').hidden = true;  // the session panel is the camera's: not about this image
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
    state.backendChoice = await chooseBackend(VENDOR_URL, params.get('backend') === 'cpu');
    state.backend = state.backendChoice.backend;
    setStatus(`Loading the models (${state.backend} backend)…`);
    // wasm threads for the detector worker (needs cross-origin isolation): all cores but the page's, at most
    // MAX_DETECTOR_THREADS (1 on a 2-core machine); ?threads=N overrides
    const cores = navigator.hardwareConcurrency || 1;
    const asked = Number(params.get('threads') || Math.min(MAX_DETECTOR_THREADS, Math.max(1, cores - 1)));
    state.detectorThreads = window.crossOriginIsolated ? Math.max(1, Math.min(asked, cores)) : 1;
    const pipeline = await FacePipeline.load(MODELS_URL, VENDOR_URL, state.detectorThreads);
    state.pipeline = pipeline;
    const detectorBackend = pipeline.detector.backend;
    state.detectorBackend = detectorBackend.name;
    $('model-info').textContent = `expression: ${pipeline.emotion.meta.name} (${pipeline.emotion.meta.tfjs.weights}) · ` +
      `mask: ${pipeline.mask ? pipeline.mask.meta.name : 'no model'} · detector: BlazeFace ${pipeline.detector.meta.input_size}px · ` +
      `TensorFlow.js ${tf.version_core} · classifiers' backend (measured): ` +
      `${describeChoice(state.backendChoice, state.backendChoice.threads)} · detector's backend (measured): ` +
      `${describeChoice({backend: detectorBackend.name, ms: detectorBackend.ms, skipped: detectorBackend.skipped}, detectorBackend.threads)}`;
    if (!pipeline.mask) $('mask-bars').hidden = true;
    setUpSession(pipeline);
    state.ready = true;
    setStatus(`Models ready (${state.backend} backend, detector on ${state.detectorBackend}). ` +
              'Click "Start camera", or analyse an image.');
  } catch (error) {
    state.error = String(error && error.message || error);
    setStatus('Could not load the models.');
    showMessage(`The models could not be loaded: ${state.error}`);
    return;
  }
  if (START_CAMERA_AT_LOAD) await startCamera();
}

main();
