// Dedicated worker that runs the BlazeFace detector (js/detector.js) off the page's main thread.
//
// Why a worker: (1) tfjs-tflite's Emscripten/embind glue compiles code from strings (`new Function`), which needs
// 'unsafe-eval'; the server gives only this worker script that permission (its own Content-Security-Policy), so the
// page itself keeps a CSP without it; (2) detection of the next camera frame runs on the second core while the page
// classifies and draws the current one.
//
// Messages in:  {type: "load", baseUrl, wasmPath, numThreads}
//               {type: "detect", id, width, height, pixels: ArrayBuffer (RGBA, transferred), photo (tiled search)}
// Messages out: {type: "loaded", meta} | {type: "faces", id, faces, ms} | {type: "error", id?, message}
/* global importScripts */

importScripts('../vendor/tf-core.min.js', '../vendor/tf-backend-cpu.min.js', '../vendor/tf-tflite.min.js');

let detector = null;
const pending = [];
let busy = false;

async function handle(message) {
  if (message.type === 'load') {
    const {FaceDetector} = await import('./detector.js');
    await self.tf.setBackend('cpu');  // tensors are only wrapped here; the tflite model runs in its own wasm runtime
    detector = await FaceDetector.load(message.baseUrl, message.wasmPath, message.numThreads);
    // one call to initialise the interpreter before the first real frame
    await detector.detect({data: new Uint8ClampedArray(64 * 48 * 4), width: 64, height: 48});
    self.postMessage({type: 'loaded', meta: detector.meta});
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
