// The face check of the tiled photo search: MediaPipe's face-mesh network (its face-presence output only), a
// TensorFlow.js layers model rebuilt from the .tflite file that core/face_check.py runs in LiteRT, with the same input
// built by the same steps (the spec is in core/face_check.py's docstring; its constants come from detector.json's
// "face_check", written from core.face_check.FACE_CHECK). FaceDetector.detectTiled keeps a box of the finer tile grid
// only when this says face; it loads the model when a photo first needs it (a camera session never downloads it).
/* global tf */

import {compileLayersModel} from './layers_runner.js';
import {sampleTurnedSquare} from './preprocess.js';

// The network's input for one face ({box: [x, y, w, h], keypoints: [[x, y] right eye, [x, y] left eye, ...]}) of an
// RGBA frame ({data, width, height}): an S x S x 3 Float32Array, a square of roi_scale * max(w, h) around the box
// centre, turned so that the eyes are level, sampled bilinearly (black outside the frame), / pixel_scale.
export function faceCheckInput(frame, face, meta) {
  const [x, y, w, h] = face.box;
  const [[rightX, rightY], [leftX, leftY]] = face.keypoints;
  const {data, width, height} = frame;
  const pixel = (px, py, c) => (px >= 0 && px < width && py >= 0 && py < height ? data[(py * width + px) * 4 + c] : 0);
  const out = sampleTurnedSquare(pixel, 3, x + w / 2, y + h / 2, meta.roi_scale * Math.max(w, h),
    Math.atan2(leftY - rightY, leftX - rightX), meta.input_size);
  for (let i = 0; i < out.length; i++) out[i] /= meta.pixel_scale;
  return out;
}

export class FaceCheck {
  constructor(model, meta) {
    this.model = model;
    this.meta = meta;
    const direct = compileLayersModel(model);  // js/layers_runner.js; null: tfjs-layers' own predict
    this.direct = direct !== null;
    this.predict = direct || (x => model.predict(x));
  }

  // url: the model.json of the face check's bundle; meta: detector.json's "face_check".
  static async load(url, meta) {
    return new FaceCheck(await tf.loadLayersModel(url), meta);
  }

  // Face presence in [0, 1] for one face of an RGBA frame.
  async presence(frame, face) {
    const S = this.meta.input_size;
    const input = faceCheckInput(frame, face, this.meta);
    const outputs = tf.tidy(() => this.predict(tf.tensor4d(input, [1, S, S, 3])));
    const tensors = outputs instanceof tf.Tensor ? [outputs] : outputs;
    const [logit] = await tensors[0].data();
    tensors.forEach(t => t.dispose());
    return 1 / (1 + Math.exp(-Math.min(100, Math.max(-100, logit))));
  }

  async confirms(frame, face) {
    return (await this.presence(frame, face)) >= this.meta.threshold;
  }
}
