// A loaded tfjs-layers model run as a plain sequence of TensorFlow.js ops, without tfjs-layers' per-layer machinery
// (symbolic bookkeeping, masks, per-layer tidy and checks), for the networks the page runs on every camera frame:
// BlazeFace and the face check in the detector worker and the expression and mask classifiers on the page. Each layer calls the op
// tfjs-layers' own call() does in inference (Conv2D: tf.fused.conv2d with its bias and ReLU, as the .tflite files fuse
// them; BatchNormalization: tf.batchNorm on the moving statistics; Dense: tf.fused.matMul, or matMul + bias + softmax;
// Dropout: nothing), so the same numbers come out as from model.predict, bit for bit (tests/test_blazeface_tfjs.py
// checks the boxes against LiteRT in the browser, tests/test_web_page.py the labels against Python). Measured in Node
// (wasm, 2 shared cores): about 2-3 ms less per BlazeFace call; the classifiers about 0.3-0.7 ms of CPU less per call
// (expression network on a face and its mirror 6.3 -> 5.6 ms, mask network 4.1 -> 3.8 ms: their convolutions are
// most of their time). A model with any other layer (or option) gets null: the caller keeps model.predict.
/* global tf */

import {HALF_PIXEL_UPSAMPLING} from './layers.js';

const ACTIVATIONS = {linear: 'linear', relu: 'relu'};

// gamma, beta, moving mean, moving variance of a BatchNormalization layer (null for a gamma or beta it has not)
function batchNormWeights(config, weights) {
  const rest = weights.slice();
  const gamma = config.scale === false ? null : rest.shift();
  const beta = config.center === false ? null : rest.shift();
  return [gamma, beta, rest[0], rest[1]];
}

function step(layer) {
  const cls = layer.getClassName();
  const config = layer.getConfig();
  const weights = layer.getWeights();
  const activation = ACTIVATIONS[config.activation || 'linear'];
  const bias = config.useBias === false ? undefined : weights[1];
  switch (cls) {
    case 'Conv2D':
      if (activation === undefined || config.dilationRate.some(d => d !== 1)) return null;
      return ([x]) => tf.fused.conv2d({x, filter: weights[0], strides: config.strides, pad: config.padding, bias, activation});
    case 'DepthwiseConv2D':
      if (activation === undefined || config.depthMultiplier !== 1 || config.dilationRate.some(d => d !== 1)) return null;
      return ([x]) => tf.fused.depthwiseConv2d({x, filter: weights[0], strides: config.strides, pad: config.padding, bias,
        activation});
    case 'Add':
      return xs => xs.reduce((a, b) => tf.add(a, b));
    case 'Concatenate':
      return xs => tf.concat(xs, config.axis);
    case 'Activation':
      if (config.activation === 'softmax') return ([x]) => tf.softmax(x);
      return config.activation === 'relu' ? ([x]) => tf.relu(x) : null;
    case 'BatchNormalization': {  // inference: the moving statistics (tfjs-layers' batchNormalization, rank 4)
      if (config.axis !== -1 && config.axis !== 3) return null;
      const [gamma, beta, movingMean, movingVariance] = batchNormWeights(config, weights);
      return ([x]) => tf.batchNorm(x, movingMean, movingVariance, beta, gamma, config.epsilon);
    }
    case 'Rescaling':
      return ([x]) => tf.add(tf.mul(x, config.scale), config.offset);
    case 'GlobalAveragePooling2D':
      return config.dataFormat === 'channelsLast' || !config.dataFormat ? ([x]) => tf.mean(x, [1, 2]) : null;
    case 'Dropout':
      return ([x]) => x;  // inference
    case 'Dense':
      if (layer.input.shape.length !== 2) return null;  // tfjs-layers reshapes a higher-rank input first
      if (activation !== undefined) return ([x]) => tf.fused.matMul({a: x, b: weights[0], bias, activation});
      if (config.activation !== 'softmax') return null;
      return ([x]) => tf.softmax(bias ? tf.add(tf.matMul(x, weights[0]), bias) : tf.matMul(x, weights[0]));
    case 'PReLU':  // tfjs-layers' PReLU.call: prelu with the alpha variable (the face check's network)
      return ([x]) => tf.prelu(x, weights[0]);
    case 'MaxPooling2D':
      return ([x]) => tf.maxPool(x, config.poolSize, config.strides, config.padding);
    case 'Reshape':
      return ([x]) => tf.reshape(x, [x.shape[0], ...config.targetShape]);
    case HALF_PIXEL_UPSAMPLING:
      return ([x]) => tf.image.resizeBilinear(x, [x.shape[1] * config.size[0], x.shape[2] * config.size[1]], false, true);
    default:
      return null;
  }
}

// model: a tfjs LayersModel with one input. Returns (input tensor) => [output tensors] (the caller disposes them),
// or null when a layer is not one of those above.
export function compileLayersModel(model) {
  if (model.inputLayers.length !== 1) return null;
  const steps = [];
  for (const layer of model.layers) {  // a Functional model's layers are in topological order
    if (layer.getClassName() === 'InputLayer') continue;
    if (layer.inboundNodes.length !== 1) return null;
    const run = step(layer);
    if (!run) return null;
    steps.push({name: layer.name, inputs: layer.inboundNodes[0].inboundLayers.map(l => l.name), run});
  }
  const inputName = model.inputLayers[0].name;
  const outputNames = model.outputLayers.map(l => l.name);
  return input => tf.tidy(() => {
    const values = new Map([[inputName, input]]);
    for (const {name, inputs, run} of steps) values.set(name, run(inputs.map(n => values.get(n))));
    return outputNames.map(n => values.get(n));
  });
}
