"""Real-time augmentation in tf.data, outside the network graph (cheaper there, and the exported model stays plain).

`augment_batch` works on whole batches: random horizontal flip, one random affine warp per image (rotation, zoom,
shift), optional camera degradations (low resolution, motion blur, grey, colour cast, low light), brightness and contrast
jitter, and a random erased rectangle. Pixels stay in 0-255 float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    max_rotation_deg: float = 10.0
    max_zoom: float = 0.10  # scale drawn from [1 - max_zoom, 1 + max_zoom]
    max_shift: float = 0.10  # fraction of the image side
    max_brightness: float = 0.15  # fraction of 255
    max_contrast: float = 0.25  # factor drawn from [1 - max_contrast, 1 + max_contrast]
    erase_probability: float = 0.5
    erase_max_fraction: float = 0.3  # side of the erased square, as a fraction of the image side
    # Camera degradations (off by default; the mask task uses them so that it holds on video detector crops):
    lowres_probability: float = 0.0  # shrink to 10-40 % of the side and enlarge back (small, far faces)
    blur_probability: float = 0.0  # horizontal or vertical motion blur, 3-7 pixels
    gray_probability: float = 0.0  # grey (3 equal channels), so that grey is no cue for either class
    max_color_cast: float = 0.0  # per-channel gain drawn from [1 - c, 1 + c] (white balance, coloured light)
    dark_probability: float = 0.0  # low light: the image times a gain drawn from DARK_GAIN (dark is no cue for a mask)


DARK_GAIN = (0.1, 0.5)


def _affine_transforms(batch: int, height: int, width: int, config: AugmentConfig) -> tf.Tensor:
    """Per-image projective transforms (output -> input coordinates) for ImageProjectiveTransformV3."""
    angle = tf.random.uniform([batch], -1.0, 1.0) * (config.max_rotation_deg * math.pi / 180.0)
    scale = 1.0 + tf.random.uniform([batch], -config.max_zoom, config.max_zoom)
    shift_x = tf.random.uniform([batch], -config.max_shift, config.max_shift) * width
    shift_y = tf.random.uniform([batch], -config.max_shift, config.max_shift) * height
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    a0, a1 = tf.cos(angle) / scale, -tf.sin(angle) / scale
    b0, b1 = tf.sin(angle) / scale, tf.cos(angle) / scale
    a2 = cx - a0 * cx - a1 * cy - shift_x
    b2 = cy - b0 * cx - b1 * cy - shift_y
    zeros = tf.zeros([batch])
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _erase(images: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """Fill one random square per image (with probability erase_probability) with its mean grey."""
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    side = tf.cast(tf.cast(height, tf.float32) * config.erase_max_fraction * tf.random.uniform([batch]), tf.int32)
    top = tf.cast(tf.random.uniform([batch]) * tf.cast(height, tf.float32), tf.int32) - side // 2
    left = tf.cast(tf.random.uniform([batch]) * tf.cast(width, tf.float32), tf.int32) - side // 2
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    inside = (
        (rows >= top[:, None, None])
        & (rows < (top + side)[:, None, None])
        & (cols >= left[:, None, None])
        & (cols < (left + side)[:, None, None])
    )
    apply = tf.random.uniform([batch]) < config.erase_probability
    mask = (inside & apply[:, None, None])[..., None]
    fill = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return tf.where(mask, fill, images)


def _per_image(probability: float, batch) -> tf.Tensor:
    return (tf.random.uniform([batch]) < probability)[:, None, None, None]


def _degrade(x: tf.Tensor, batch, height, width, config: AugmentConfig) -> tf.Tensor:
    """Low resolution, motion blur, grey and colour casts, each on a random subset of the batch."""
    if config.lowres_probability > 0:
        fraction = tf.random.uniform([], 0.10, 0.40)
        small = tf.maximum(4, tf.cast(fraction * tf.cast(height, tf.float32), tf.int32))
        low = tf.image.resize(tf.image.resize(x, tf.stack([small, small]), method="area"), tf.stack([height, width]))
        x = tf.where(_per_image(config.lowres_probability, batch), low, x)
    if config.blur_probability > 0:
        length = tf.random.uniform([], 3, 8, dtype=tf.int32)
        kernel = tf.ones([length]) / tf.cast(length, tf.float32)
        channels = tf.shape(x)[3]
        horizontal = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), tf.stack([1, 1, channels, 1]))
        vertical = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), tf.stack([1, 1, channels, 1]))
        kernel4 = tf.cond(tf.random.uniform([]) < 0.5, lambda: horizontal, lambda: vertical)
        blurred = tf.nn.depthwise_conv2d(x, kernel4, strides=[1, 1, 1, 1], padding="SAME")
        x = tf.where(_per_image(config.blur_probability, batch), blurred, x)
    if config.max_color_cast > 0:
        gains = 1.0 + tf.random.uniform(tf.stack([batch, 1, 1, tf.shape(x)[3]]), -config.max_color_cast, config.max_color_cast)
        x = x * gains
    if config.gray_probability > 0:
        gray = tf.reduce_mean(x, axis=3, keepdims=True) * tf.ones_like(x)
        x = tf.where(_per_image(config.gray_probability, batch), gray, x)
    if config.dark_probability > 0:
        gain = tf.random.uniform(tf.stack([batch, 1, 1, 1]), *DARK_GAIN)
        x = tf.where(_per_image(config.dark_probability, batch), x * gain, x)
    return x


def augment_batch(images: tf.Tensor, config: AugmentConfig = AugmentConfig()) -> tf.Tensor:
    """Augment a batch of uint8 or float images (B, H, W, C); returns float32 in 0-255."""
    x = tf.cast(images, tf.float32)
    shape = tf.shape(x)
    batch, height, width = shape[0], shape[1], shape[2]
    if config.flip:
        flip = tf.random.uniform([batch, 1, 1, 1]) < 0.5
        x = tf.where(flip, tf.reverse(x, axis=[2]), x)
    transforms = _affine_transforms(batch, tf.cast(height, tf.float32), tf.cast(width, tf.float32), config)
    x = tf.raw_ops.ImageProjectiveTransformV3(
        images=x,
        transforms=transforms,
        output_shape=tf.stack([height, width]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    x = _degrade(x, batch, height, width, config)
    contrast = 1.0 + tf.random.uniform([batch, 1, 1, 1], -config.max_contrast, config.max_contrast)
    brightness = tf.random.uniform([batch, 1, 1, 1], -config.max_brightness, config.max_brightness) * 255.0
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = (x - mean) * contrast + mean + brightness
    if config.erase_probability > 0:
        x = _erase(x, config)
    return tf.clip_by_value(x, 0.0, 255.0)


def config_degrades(config: AugmentConfig) -> bool:
    """Whether `config` asks for any camera degradation (only `augment_batch` has them)."""
    return any((config.lowres_probability, config.blur_probability, config.gray_probability, config.max_color_cast,
                config.dark_probability))


def keras_augmenter(config: AugmentConfig = AugmentConfig(), seed: int | None = None):
    """`augment_batch`'s flip, warp, brightness/contrast jitter and erasing from Keras's own preprocessing layers
    (backend-agnostic: they run inside tf.data whatever the Keras backend is, so training also runs on JAX or torch).
    Pixels stay in 0-255 float32. It has no camera degradations: a config that asks for them is refused
    (ValueError), not silently trained without them."""
    if config_degrades(config):
        raise ValueError("the keras augmentation has no camera degradations (low resolution, blur, grey, colour cast, "
                         "low light); use the warp augmentation (augment_batch) for this config")
    import keras
    from keras import layers

    value_range = (0.0, 255.0)
    steps = []
    if config.flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed))
    steps += [
        layers.RandomRotation(config.max_rotation_deg / 360.0, fill_mode="reflect", seed=seed),
        layers.RandomZoom(config.max_zoom, fill_mode="reflect", seed=seed),
        layers.RandomTranslation(config.max_shift, config.max_shift, fill_mode="reflect", seed=seed),
        layers.RandomBrightness(config.max_brightness, value_range=value_range, seed=seed),
        layers.RandomContrast(config.max_contrast, value_range=value_range, seed=seed),
    ]
    if config.erase_probability > 0:
        side = config.erase_max_fraction
        steps.append(layers.RandomErasing(factor=(config.erase_probability, config.erase_probability),
                                          scale=(0.02, side * side), fill_value=127.5, value_range=value_range,
                                          seed=seed))
    return keras.Sequential(steps, name="augmentation")


ENGINES = ("warp", "keras")


def training_dataset(images, labels_onehot, batch_size: int, seed: int, config: AugmentConfig = AugmentConfig(),
                     soft_targets=None, class_weights=None, engine: str = "warp"):
    """Shuffled, batched, augmented tf.data pipeline over in-memory uint8 images.

    `engine`: "warp" (`augment_batch`, hand-written, TensorFlow ops) or "keras" (`keras_augmenter`, Keras's layers).

    With `soft_targets` (a function of the augmented batch, see `train.distill`) each batch is
    `(images, [one-hot | soft targets], per-sample class weights)` for distillation.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images, labels_onehot))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if engine == "keras":
        augmenter = keras_augmenter(config, seed)
        dataset = dataset.map(lambda x, y: (augmenter(tf.cast(x, tf.float32), training=True), y), num_parallel_calls=1)
    elif engine == "warp":
        dataset = dataset.map(lambda x, y: (augment_batch(x, config), y), num_parallel_calls=1)
    else:
        raise ValueError(f"augmentation engine must be one of {ENGINES}, got {engine!r}")
    if soft_targets is not None:
        weights = tf.constant(class_weights if class_weights is not None else [1.0] * labels_onehot.shape[1], tf.float32)
        dataset = dataset.map(
            lambda x, y: (x, tf.concat([tf.cast(y, tf.float32), soft_targets(x)], axis=1), tf.gather(weights, tf.argmax(y, axis=1))),
            num_parallel_calls=1,
        )
    return dataset.prefetch(2)


def evaluation_dataset(images, labels_onehot, batch_size: int, packed: bool = False):
    """Batches of float images; `packed` repeats the one-hot labels as [hard | soft] targets (for distillation)."""
    dataset = tf.data.Dataset.from_tensor_slices((images, labels_onehot)).batch(batch_size)
    if packed:
        return dataset.map(lambda x, y: (tf.cast(x, tf.float32), tf.concat([y, y], axis=1))).prefetch(2)
    return dataset.map(lambda x, y: (tf.cast(x, tf.float32), y)).prefetch(2)
