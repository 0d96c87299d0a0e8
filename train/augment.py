"""Real-time augmentation: one Keras preprocessing pipeline, run in the tf.data map, outside the network graph (cheaper
there, and the exported model stays plain).

`augmentation_pipeline` builds a `keras.layers.Pipeline` of Keras's own preprocessing layers (flip, rotation, zoom,
shift, grey, brightness, contrast, erasing) and, where Keras has no layer, four small layers of ours for the camera
degradations the mask task needs (low resolution, motion blur, colour cast, low light). Every layer draws per image
(the degradations also per batch: one blur length, one low resolution) and is seeded from Keras's global seed. Pixels
stay in 0-255 float32. The degradation layers use `keras.ops` only; inside tf.data they run on the TensorFlow backend,
which training uses.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import keras
import tensorflow as tf
from keras import layers, ops

VALUE_RANGE = (0.0, 255.0)
DARK_GAIN = (0.1, 0.5)  # low light: the image times a gain drawn from this range
LOW_RESOLUTION_FRACTION = (0.10, 0.40)  # low resolution: shrunk to this fraction of the side, enlarged back
MOTION_BLUR_LENGTH = (3, 7)  # motion blur: a line of this many pixels, horizontal or vertical
ERASE_MIN_AREA = 0.02  # random erasing: the smallest erased area, as a fraction of the image


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    max_rotation_deg: float = 10.0
    max_zoom: float = 0.10  # in or out by up to this fraction of the side
    max_shift: float = 0.10  # fraction of the image side
    max_brightness: float = 0.15  # fraction of 255
    max_contrast: float = 0.25  # factor drawn from [1 - max_contrast, 1 + max_contrast]
    erase_probability: float = 0.5
    erase_max_fraction: float = 0.3  # side of the largest erased square, as a fraction of the image side
    # Camera degradations (off by default; the mask task uses them so that it holds on video detector crops):
    lowres_probability: float = 0.0  # small, far faces
    blur_probability: float = 0.0  # motion blur
    gray_probability: float = 0.0  # grey (3 equal channels), so that grey is no cue for either class
    max_color_cast: float = 0.0  # per-channel gain drawn from [1 - c, 1 + c] (white balance, coloured light)
    dark_probability: float = 0.0  # low light (dark is no cue for a mask)


# ---------------------------------------------------------------------------------------------------------------------
# The camera degradations Keras has no layer for
# ---------------------------------------------------------------------------------------------------------------------


class _SeededLayer(layers.Layer):
    """A layer that draws from a SeedGenerator of its own and keeps the shape of its input."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class _RandomDegradation(_SeededLayer):
    """A layer that replaces each image of the batch by `degrade(images)` with probability `probability`."""

    def __init__(self, probability: float, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.probability = probability

    def degrade(self, images):
        raise NotImplementedError

    def call(self, images, training=True):
        if not training or self.probability <= 0:
            return images
        images = ops.cast(images, "float32")
        chosen = keras.random.uniform(ops.shape(images)[:1], seed=self.generator) < self.probability
        return ops.where(chosen[:, None, None, None], self.degrade(images), images)

    def get_config(self):
        return {**super().get_config(), "probability": self.probability}


class RandomLowResolution(_RandomDegradation):
    """Shrink to a fraction of the side (drawn once per batch from LOW_RESOLUTION_FRACTION) and enlarge back."""

    def degrade(self, images):
        height, width = images.shape[1], images.shape[2]
        sides = range(max(4, int(LOW_RESOLUTION_FRACTION[0] * height)), int(LOW_RESOLUTION_FRACTION[1] * height) + 1)
        fraction = keras.random.uniform((), *LOW_RESOLUTION_FRACTION, seed=self.generator)
        side = ops.clip(ops.cast(fraction * height, "int32"), sides[0], sides[-1])

        def shrunk_to(small):  # one branch per side: Keras's resize takes a size known when the graph is built
            return lambda x: ops.image.resize(ops.image.resize(x, (small, small), interpolation="area"),
                                              (height, width), interpolation="bilinear")

        return ops.switch(side - sides[0], [shrunk_to(small) for small in sides], images)


class RandomMotionBlur(_RandomDegradation):
    """Average along a horizontal or vertical line of MOTION_BLUR_LENGTH pixels (one length and direction per batch)."""

    def degrade(self, images):
        taps = MOTION_BLUR_LENGTH[1]
        length = keras.random.randint((), MOTION_BLUR_LENGTH[0], MOTION_BLUR_LENGTH[1] + 1, seed=self.generator)
        start = (taps - 1) // 2 - (length - 1) // 2
        positions = ops.arange(taps)
        line = ops.cast((positions >= start) & (positions < start + length), "float32") / ops.cast(length, "float32")
        centre = ops.cast(positions == (taps - 1) // 2, "float32")
        horizontal = keras.random.uniform((), seed=self.generator) < 0.5
        kernel = ops.where(horizontal, centre[:, None] * line[None, :], line[:, None] * centre[None, :])
        channels = images.shape[3]
        kernel = ops.tile(kernel[:, :, None, None], (1, 1, channels, 1))
        return ops.depthwise_conv(images, kernel, strides=1, padding="same")


class RandomColourCast(_SeededLayer):
    """Scale each channel of each image by a gain drawn from [1 - max_cast, 1 + max_cast] (white balance)."""

    def __init__(self, max_cast: float, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.max_cast = max_cast

    def call(self, images, training=True):
        if not training or self.max_cast <= 0:
            return images
        shape = ops.shape(images)
        gains = keras.random.uniform((shape[0], 1, 1, shape[3]), 1.0 - self.max_cast, 1.0 + self.max_cast,
                                     seed=self.generator)
        return ops.cast(images, "float32") * gains

    def get_config(self):
        return {**super().get_config(), "max_cast": self.max_cast}


class RandomLowLight(_RandomDegradation):
    """Darken the whole image by one gain drawn from DARK_GAIN."""

    def degrade(self, images):
        gains = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), *DARK_GAIN, seed=self.generator)
        return images * gains


# ---------------------------------------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------------------------------------


def augmentation_pipeline(config: AugmentConfig = AugmentConfig(), seed: int | None = None) -> layers.Pipeline:
    """The augmentation of `config` as Keras layers, in order: flip, rotation, zoom, shift, the camera degradations
    asked for (low resolution, motion blur, colour cast, grey, low light), brightness, contrast, erasing.

    `seed`: layer i is seeded with seed + i; None seeds every layer from Keras's global seed
    (`keras.utils.set_random_seed`)."""
    seeds = itertools.count(seed) if seed is not None else itertools.repeat(None)
    steps = []
    if config.flip:
        steps.append(layers.RandomFlip("horizontal", seed=next(seeds)))
    steps += [
        layers.RandomRotation(config.max_rotation_deg / 360.0, fill_mode="reflect", seed=next(seeds)),
        layers.RandomZoom(config.max_zoom, fill_mode="reflect", seed=next(seeds)),
        layers.RandomTranslation(config.max_shift, config.max_shift, fill_mode="reflect", seed=next(seeds)),
    ]
    if config.lowres_probability > 0:
        steps.append(RandomLowResolution(config.lowres_probability, seed=next(seeds)))
    if config.blur_probability > 0:
        steps.append(RandomMotionBlur(config.blur_probability, seed=next(seeds)))
    if config.max_color_cast > 0:
        steps.append(RandomColourCast(config.max_color_cast, seed=next(seeds)))
    if config.gray_probability > 0:
        steps.append(layers.RandomGrayscale(config.gray_probability, seed=next(seeds)))
    if config.dark_probability > 0:
        steps.append(RandomLowLight(config.dark_probability, seed=next(seeds)))
    steps += [
        layers.RandomBrightness(config.max_brightness, value_range=VALUE_RANGE, seed=next(seeds)),
        layers.RandomContrast(config.max_contrast, value_range=VALUE_RANGE, seed=next(seeds)),
    ]
    if config.erase_probability > 0:
        side = config.erase_max_fraction
        steps.append(layers.RandomErasing(factor=(config.erase_probability, config.erase_probability),
                                          scale=(ERASE_MIN_AREA, side * side), fill_value=127.5,
                                          value_range=VALUE_RANGE, seed=next(seeds)))
    return layers.Pipeline(steps, name="augmentation")


def augment_batch(images, config: AugmentConfig = AugmentConfig(), seed: int | None = None):
    """Augment one batch of uint8 or float images (B, H, W, C) eagerly; returns float32 in 0-255."""
    pipeline = augmentation_pipeline(config, seed)
    return ops.clip(pipeline(ops.cast(images, "float32"), training=True), *VALUE_RANGE)


# ---------------------------------------------------------------------------------------------------------------------
# The tf.data pipelines of training and evaluation
# ---------------------------------------------------------------------------------------------------------------------


def training_dataset(images, labels_onehot, batch_size: int, seed: int, config: AugmentConfig = AugmentConfig(),
                     soft_targets=None, class_weights=None):
    """Shuffled, batched, augmented tf.data pipeline over in-memory uint8 images.

    With `soft_targets` (a function of the augmented batch, see `train.distill`) each batch is
    `(images, [one-hot | soft targets], per-sample class weights)` for distillation.
    """
    pipeline = augmentation_pipeline(config)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels_onehot))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.map(
        lambda x, y: (tf.clip_by_value(pipeline(tf.cast(x, tf.float32), training=True), *VALUE_RANGE), y),
        num_parallel_calls=1)
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
