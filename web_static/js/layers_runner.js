// A loaded tfjs-layers model run as a plain sequence of TensorFlow.js ops, without tfjs-layers' per-layer machinery
// (symbolic bookkeeping, masks, per-layer tidy and checks), for the networks the page runs on every camera frame.
// Convolutions fuse their bias and ReLU (tf.fused.*), as the .tflite files do. Same kernels on the same weights as
// model.predict, so the same numbers (tests/test_blazeface_tfjs.py checks the boxes against LiteRT in the browser);
// about 2-3 ms less per BlazeFace call on the wasm backend here (Node, 2 cores). A model with any other layer type
// gets null: the caller keeps model.predict.
/* global tf */

import {HALF_PIXEL_UPSAMPLING} from './layers.js';

const ACTIVATIONS = {linear: 'linear', relu: 'relu'};

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
      return config.activation === 'relu' ? ([x]) => tf.relu(x) : null;
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
