// Dedicated worker that runs the BlazeFace detector (js/detector.js) off the page's main thread: detection of the
// next camera frame runs on the second core while the page classifies and draws the current one.
//
// The detector is two TensorFlow.js layers models, and the face check's for large photos (models/blazeface/, exported by
// `python -m export --detector`), run by the same TensorFlow.js as the page's classifiers. Its backend is chosen by
// measurement here at start (js/backends.js: wasm, webgl where the worker gets a WebGL context; cpu as fallback). The
// worker's CSP is the page's (no 'unsafe-eval').
//
// Messages in:  {type: "load", baseUrl, wasmPath, threads}
//               {type: "detect", id, width, height, pixels: ArrayBuffer (RGBA, transferred), photo (tiled search)}
// Messages out: {type: "loaded", meta, backend, ms, skipped, threads, direct (js/layers_runner.js runs both models)}
//               | {type: "faces", id, faces, ms} | {type: "error", id?, message}
/* global importScripts */

importScripts('../vendor/tf-core.min.js', '../vendor/tf-backend-cpu.min.js', '../vendor/tf-backend-wasm.min.js',
  '../vendor/tf-backend-webgl.min.js', '../vendor/tf-layers.min.js');

const BACKEND_CANDIDATES = ['wasm', 'webgl'];
let detector = null;
const pending = [];
let busy = false;

async function handle(message) {
  if (message.type === 'load') {
    const {FaceDetector} = await import('./detector.js');
    const {configureWasm, fastestBackend, initialise} = await import('./backends.js');
    const threads = configureWasm(message.wasmPath, message.threads || 1);
    if (!(await initialise(BACKEND_CANDIDATES[0]))) await initialise('cpu');  // the weights' first home
    detector = await FaceDetector.load(message.baseUrl);
    const blank = {data: new Uint8ClampedArray(640 * 480 * 4), width: 640, height: 480};
    const choice = await fastestBackend(BACKEND_CANDIDATES, () => detector.detectOnce(blank));
    await detector.detect(blank);  // the chosen backend warm before the first real frame
    // the threads the wasm module really runs (tfjs falls back to one where threads cannot start)
    const running = choice.backend === 'wasm' ? self.tf.wasm.getThreadsCount() : 1;
    self.postMessage({type: 'loaded', meta: detector.meta, backend: choice.backend, ms: choice.ms, skipped: choice.skipped,
      threads: running, asked: threads, direct: detector.direct && (!detector.closeRange || detector.closeRange.direct)});
    return;
  }
  if (message.type === 'detect') {
    if (!detector) throw new Error('the detector is not loaded yet');
    const start = performance.now();
    const frame = {data: new Uint8ClampedArray(message.pixels), width: message.width, height: message.height};
    const faces = await (message.photo ? detector.detectTiled(frame) : detector.detect(frame));
    self.postMessage({type: 'faces', id: message.id, faces, ms: performance.now() - start});
    return;
  }
  throw new Error(`unknown message type ${message.type}`);
}

async function drain() {
  if (busy) return;
  busy = true;
  while (pending.length) {
    const message = pending.shift();
    try {
      await handle(message);
    } catch (error) {
      self.postMessage({type: 'error', id: message.id, message: String(error && error.message || error)});
    }
  }
  busy = false;
}

self.onmessage = event => {
  pending.push(event.data);
  drain();
};
