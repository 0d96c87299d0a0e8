// The face check of the tiled photo search: MediaPipe's face-mesh network (its face-presence output only), a
// TensorFlow.js layers model rebuilt from the .tflite file that core/face_check.py runs in LiteRT, with the same input
// built by the same steps (the spec is in core/face_check.py's docstring; its constants come from detector.json's
// "face_check", written from core.face_check.FACE_CHECK). FaceDetector.detectTiled keeps a box of the finer tile grid
// only when this says face; it loads the model when a photo first needs it (a camera session never downloads it).
/* global tf */

import {compileLayersModel} from './layers_runner.js';

// The network's input for one face ({box: [x, y, w, h], keypoints: [[x, y] right eye, [x, y] left eye, ...]}) of an
// RGBA frame ({data, width, height}): an S x S x 3 Float32Array, a square of roi_scale * max(w, h) around the box
// centre, turned so that the eyes are level, sampled bilinearly (black outside the frame), / pixel_scale.
export function faceCheckInput(frame, face, meta) {
  const S = meta.input_size;
  const [x, y, w, h] = face.box;
  const [[rightX, rightY], [leftX, leftY]] = face.keypoints;
  const angle = Math.atan2(leftY - rightY, leftX - rightX);
  const side = meta.roi_scale * Math.max(w, h);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const {data, width, height} = frame;
  const out = new Float32Array(S * S * 3);
  const pixel = (px, py, c) => (px >= 0 && px < width && py >= 0 && py < height ? data[(py * width + px) * 4 + c] : 0);
  for (let v = 0; v < S; v++) {
    const dv = ((v + 0.5) / S - 0.5) * side;
    for (let u = 0; u < S; u++) {
      const du = ((u + 0.5) / S - 0.5) * side;
      const sx = x + w / 2 + cos * du - sin * dv - 0.5;
      const sy = y + h / 2 + sin * du + cos * dv - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < 3; c++) {
        const top = pixel(x0, y0, c) * (1 - fx) + pixel(x0 + 1, y0, c) * fx;
        const bottom = pixel(x0, y0 + 1, c) * (1 - fx) + pixel(x0 + 1, y0 + 1, c) * fx;
        out[(v * S + u) * 3 + c] = (top * (1 - fy) + bottom * fy) / meta.pixel_scale;
      }
    }
  }
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
