// The twin of core/models.py: the page's TensorFlow.js backend (chosen by measurement, js/backends.js), and the face
// classifiers exported by `python -m export` (models/<name>/: model.json + weights + metadata.json).
// Labels, input size/channels, test-time augmentation and crop constants come from metadata.json, never from here.
// Mirrors core.models.FaceClassifier: all faces of a frame in one batch; with "flip" TTA the batch is doubled with
// the mirrored crops and the two probability sets are averaged. A "temperature" T in metadata.json (absent = 1) is
// then applied to the averaged probabilities: softmax(log(p) / T), as core.models.apply_temperature does.
/* global tf */

import {faceCrop} from './preprocess.js';
import {configureWasm, fastestBackend, initialise} from './backends.js';
import {compileLayersModel} from './layers_runner.js';

// softmax(log(max(p, floor)) / T) over the last axis of a probability tensor; T = 1 returns it unchanged. `floor`:
// core.models.PROBABILITY_FLOOR, the log(0) guard, from models/index.json ("pipeline" -> "probability_floor").
export function applyTemperature(probs, temperature, floor) {
  if (temperature === 1) return probs;
  return tf.softmax(tf.div(tf.log(tf.maximum(probs, floor)), temperature));
}

export const PAGE_BACKENDS = ['wasm', 'webgl'];
const TRIAL_SHAPE = [2, 48, 48, 1];  // like the classifiers' work: a face and its mirror, 48 x 48 grey

// One run of a small convolution stack shaped like the classifiers' (js/backends.js times it per backend).
async function classifierTrial() {
  const y = tf.tidy(() => {
    let x = tf.fill(TRIAL_SHAPE, 0.5);
    for (const [inC, outC] of [[1, 32], [32, 32], [32, 64]]) {
      x = tf.relu(tf.conv2d(x, tf.fill([3, 3, inC, outC], 0.01), 1, 'same'));
      x = tf.maxPool(x, 2, 2, 'same');
    }
    return tf.sum(x);
  });
  await y.data();
  y.dispose();
}

// The page's backend for the classifiers, chosen by measurement (js/backends.js) among PAGE_BACKENDS; wasm runs
// single-threaded here (the detector worker has the other core). `forceCpu` (?backend=cpu, for the tests) takes the
// pure-JS cpu backend (nothing measured). Returns {backend, ms: {name: trial ms | null}, skipped, threads}.
export async function chooseBackend(wasmPath, forceCpu = false) {
  if (forceCpu) {
    if (await initialise('cpu')) return {backend: 'cpu', ms: {}, skipped: {}, threads: 1};
    throw new Error('no TensorFlow.js backend could be initialised');
  }
  const threads = configureWasm(wasmPath, 1);
  return {...await fastestBackend(PAGE_BACKENDS, classifierTrial), threads};
}

export class FaceClassifier {
  constructor(model, meta) {
    this.model = model;
    this.meta = meta;
    this.labels = meta.labels;
    this.size = meta.input.size;
    this.channels = meta.input.channels;
    this.flip = (meta.tta || []).includes('flip');
    this.temperature = meta.temperature === undefined ? 1 : meta.temperature;
    if (!(this.temperature > 0)) throw new Error(`${meta.name}: temperature must be > 0, got ${meta.temperature}`);
    const direct = compileLayersModel(model);  // js/layers_runner.js (the same numbers); null: tfjs-layers' predict
    this.direct = direct !== null;
    this.predict = direct ? x => direct(x)[0] : x => model.predict(x);
    const outputs = model.outputs[0].shape[model.outputs[0].shape.length - 1];
    if (outputs !== this.labels.length) {
      throw new Error(`${meta.name}: the network has ${outputs} outputs but metadata.json lists ${this.labels.length} labels`);
    }
  }

  // baseUrl: the model's folder; probabilityFloor: index.json's pipeline.probability_floor (FacePipeline.load).
  static async load(baseUrl, probabilityFloor) {
    if (!(probabilityFloor > 0)) throw new Error(`${baseUrl}: a probability floor > 0 is needed, got ${probabilityFloor}`);
    const response = await fetch(baseUrl + 'metadata.json');
    if (!response.ok) throw new Error(`${baseUrl}metadata.json: HTTP ${response.status}`);
    const meta = await response.json();
    const model = await tf.loadLayersModel(baseUrl + (meta.tfjs && meta.tfjs.model || 'model.json'));
    const classifier = new FaceClassifier(model, meta);
    classifier.probabilityFloor = probabilityFloor;
    classifier.warmUp();
    return classifier;
  }

  warmUp() {
    tf.tidy(() => this.predict(tf.zeros([this.flip ? 2 : 1, this.size, this.size, this.channels])));
  }

  // The preprocessed crops of all faces ({box, keypoints}; Float32Array n*size*size*channels, 0-255):
  // core.preprocess.crop_faces.
  crops(frame, faces) {
    const per = this.size * this.size * this.channels;
    const batch = new Float32Array(faces.length * per);
    faces.forEach((face, i) => faceCrop(frame, face.box, this.size, this.channels, this.meta.crop, batch, i * per,
      face.keypoints));
    return batch;
  }

  // Probabilities [[p per label] per crop] of n preprocessed crops (Float32Array n*size*size*channels, 0-255):
  // the network, the flip TTA average, then the temperature (core.models.FaceClassifier.predict_proba). `view`
  // 'original' or 'mirrored' (index.json's pipeline.tta_views): that view alone, half the work; null: the metadata's TTA.
  async predictProba(batch, n, view = null) {
    if (![null, 'original', 'mirrored'].includes(view)) throw new Error(`view must be null, original or mirrored, got ${view}`);
    if (!n) return [];
    const probs = tf.tidy(() => {
      const x = tf.tensor4d(batch, [n, this.size, this.size, this.channels]);
      let p;
      if (view === 'original' || (view === null && !this.flip)) {
        p = this.predict(x);
      } else if (view === 'mirrored') {
        p = this.predict(tf.reverse(x, 2));
      } else {
        const both = this.predict(tf.concat([x, tf.reverse(x, 2)], 0));
        p = tf.div(tf.add(tf.slice(both, [0, 0], [n, -1]), tf.slice(both, [n, 0], [n, -1])), 2);
      }
      return applyTemperature(p, this.temperature, this.probabilityFloor);
    });
    const values = await probs.data();
    probs.dispose();
    const k = this.labels.length;
    return Array.from({length: n}, (_, i) => Array.from(values.subarray(i * k, (i + 1) * k)));
  }
}
