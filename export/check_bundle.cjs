#!/usr/bin/env node
// Runs an exported TensorFlow.js layers model in Node on sample faces, the way the page loads it: the bundle folder is
// served over HTTP on 127.0.0.1 and read with tf.loadLayersModel(url) (same model.json / shard URL resolution as in
// the browser), then predicted on the wasm backend (the page's) or the pure-JS cpu backend (its fallback).
//
//   node export/check_bundle.cjs --model DIR --input faces.f32 --shape N,H,W,C --out probs.f32 [--backend wasm|cpu]
//
// faces.f32: N*H*W*C little-endian float32 (the model's input values); probs.f32 gets each output in turn, all N samples
// of output 0 (N*K float32 for a classifier), then all of output 1, ... (BlazeFace: regressors, then classificators).
// Prints one JSON line {"backend", "n", "classes", "outputs": [per-sample shape of each output], "load_ms",
// "ms_per_face"}. The page's custom layers (web_static/js/layers.js) are registered first, as the page does.
// Any failure exits non-zero with the reason on stderr.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

function parseArgs(argv) {
  const args = {backend: 'wasm', batch: 128};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (argv[i + 1] === undefined) throw new Error(`missing value for ${argv[i]}`);
    args[key] = argv[i + 1];
  }
  for (const key of ['model', 'input', 'shape', 'out']) {
    if (!args[key]) throw new Error(`missing --${key}`);
  }
  args.shape = args.shape.split(',').map(Number);
  args.batch = Number(args.batch);
  return args;
}

function serve(folder) {
  const types = {'.json': 'application/json', '.bin': 'application/octet-stream'};
  const server = http.createServer((request, response) => {
    const name = decodeURIComponent(new URL(request.url, 'http://x').pathname).replace(/^\/+/, '');
    const file = path.join(folder, name);
    if (name.includes('..') || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      response.writeHead(404);
      response.end('not found');
      return;
    }
    response.writeHead(200, {'Content-Type': types[path.extname(file)] || 'application/octet-stream'});
    response.end(fs.readFileSync(file));
  });
  return new Promise(resolve => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-backend-cpu');
  require('@tensorflow/tfjs-backend-wasm');
  const tfl = require('@tensorflow/tfjs-layers');
  // web_static/js/layers.js is an ES module of the page: imported from its source (Node 20 reads .js as CommonJS here)
  const layersSource = fs.readFileSync(path.join(__dirname, '..', 'web_static', 'js', 'layers.js'), 'utf8');
  const {registerLayers} = await import('data:text/javascript,' + encodeURIComponent(layersSource));
  registerLayers({...tf, layers: tfl.layers});
  if (!(await tf.setBackend(args.backend))) throw new Error(`backend ${args.backend} did not initialise`);
  await tf.ready();

  const [n, h, w, c] = args.shape;
  const bytes = fs.readFileSync(args.input);
  if (bytes.length !== n * h * w * c * 4) {
    throw new Error(`${args.input}: ${bytes.length} bytes, expected ${n}x${h}x${w}x${c} float32 = ${n * h * w * c * 4}`);
  }
  const faces = new Float32Array(bytes.buffer, bytes.byteOffset, n * h * w * c);

  const server = await serve(path.resolve(args.model));
  const url = `http://127.0.0.1:${server.address().port}/model.json`;
  let model;
  const loadStart = Date.now();
  try {
    model = await tfl.loadLayersModel(url);
  } finally {
    server.close();
  }
  const loadMs = Date.now() - loadStart;
  const inputShape = model.inputs[0].shape.slice(1);
  if (inputShape.join(',') !== [h, w, c].join(',')) {
    throw new Error(`the model takes ${inputShape.join('x')} inputs, the samples are ${h}x${w}x${c}`);
  }
  const shapes = model.outputs.map(output => output.shape.slice(1));
  const sizes = shapes.map(shape => shape.reduce((a, b) => a * b, 1));
  const outs = sizes.map(size => new Float32Array(n * size));
  const start = Date.now();
  for (let first = 0; first < n; first += args.batch) {
    const count = Math.min(args.batch, n - first);
    const predicted = tf.tidy(() => {
      const x = tf.tensor4d(faces.subarray(first * h * w * c, (first + count) * h * w * c), [count, h, w, c]);
      const y = model.predict(x);
      return Array.isArray(y) ? y : [y];
    });
    for (let k = 0; k < predicted.length; k++) outs[k].set(await predicted[k].data(), first * sizes[k]);
    predicted.forEach(t => t.dispose());
  }
  const ms = Date.now() - start;
  fs.writeFileSync(args.out, Buffer.concat(outs.map(out => Buffer.from(out.buffer))));
  console.log(JSON.stringify({backend: tf.getBackend(), n, classes: shapes[0][0], outputs: shapes, load_ms: loadMs,
    ms_per_face: n ? ms / n : 0}));
}

main().catch(error => {
  console.error(`check_bundle: ${error && error.stack ? error.stack : error}`);
  process.exit(1);
});
