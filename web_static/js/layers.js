// The one TensorFlow.js layer the exported models use that tfjs-layers lacks, registered before any model loads.
//
// HalfPixelUpSampling2D: Keras 3's UpSampling2D(interpolation="bilinear"), which resizes with half-pixel centres (as
// BlazeFace's RESIZE_BILINEAR does); tfjs-layers' own UpSampling2D resizes without them and gives other numbers.
// export/tfjs_layers.py writes every bilinear UpSampling2D under this class name (HALF_PIXEL_UPSAMPLING there).
// Works with the page's global `tf` (the vendor scripts) and in Node (export/check_bundle.cjs passes its modules).

export const HALF_PIXEL_UPSAMPLING = 'HalfPixelUpSampling2D';

// Registers the layer with `tf` (tfjs-core and tfjs-layers' `layers` namespace on one object); idempotent.
export function registerLayers(tf) {
  if (registerLayers.done && registerLayers.done.has(tf)) return;
  class HalfPixelUpSampling2D extends tf.layers.Layer {
    constructor(config) {
      super(config);
      this.size = config.size || [2, 2];
      if (config.data_format && config.data_format !== 'channels_last' || config.dataFormat && config.dataFormat !== 'channelsLast') {
        throw new Error(`${HALF_PIXEL_UPSAMPLING}: only channels_last is supported`);
      }
    }

    computeOutputShape(inputShape) {
      const [n, h, w, c] = inputShape;
      return [n, h === null ? null : h * this.size[0], w === null ? null : w * this.size[1], c];
    }

    call(inputs) {
      return tf.tidy(() => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        const [, h, w] = x.shape;
        return tf.image.resizeBilinear(x, [h * this.size[0], w * this.size[1]], false, true);
      });
    }

    getConfig() {
      return {...super.getConfig(), size: this.size, data_format: 'channels_last', interpolation: 'bilinear'};
    }

    static get className() {
      return HALF_PIXEL_UPSAMPLING;
    }
  }
  tf.serialization.registerClass(HalfPixelUpSampling2D);
  registerLayers.done = registerLayers.done || new WeakSet();
  registerLayers.done.add(tf);
}
