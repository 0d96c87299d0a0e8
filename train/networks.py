"""The networks, selectable by name (`build_network(name, ...)`).

Every network takes uint8-range pixels (0-255, float32) of shape (size, size, channels) and rescales them itself,
so Python and the browser feed the same thing: the face crop resized, nothing else.

- `seed`: the original project's network, 4 convolutions + 2 fully connected layers (2.35M parameters).
- `vggbn`: the training default for FER2013 and the teacher: VGG-style 3x3 convolutions with BatchNorm, downsampled
  early (one convolution at 48x48), global average pooling instead of a big dense layer (96 M multiply-adds).
- `sepvgg`: the cheap candidate (about 20 M multiply-adds per face, a fifth of `vggbn`): the same stages, with each
  3x3 convolution after the first split into a depthwise 3x3 and a pointwise 1x1 (MobileNet style), three per stage.
- `vggslim`: `vggbn` at half the widths (16-32-64-128, about 24 M multiply-adds): the shipped expression network,
  distilled from `vggbn` (models/emotion/TRAINING.md); it trains 1.6x faster per image than `sepvgg` here.
- `mask_net`: a small BatchNorm CNN for with/without mask on 64x64 RGB crops.
"""

from __future__ import annotations

import keras
from keras import layers


def _conv_bn(x, filters: int, name: str, momentum: float = 0.99):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def seed(input_shape=(48, 48, 1), num_classes: int = 7) -> keras.Model:
    """Conv32-Conv64-Pool-Conv128-Pool-Conv128-Pool-Dense1024-Dense7, as in the original project."""
    inputs = keras.Input(shape=input_shape, name="face")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = layers.Conv2D(32, 3, activation="relu", name="conv1")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Dropout(0.25, name="drop1")(x)
    x = layers.Conv2D(128, 3, activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Conv2D(128, 3, activation="relu", name="conv4")(x)
    x = layers.MaxPooling2D(2, name="pool3")(x)
    x = layers.Dropout(0.25, name="drop2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.5, name="drop3")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="seed")


def vggbn(input_shape=(48, 48, 1), num_classes: int = 7, widths=(32, 64, 128, 256)) -> keras.Model:
    """VGG-style BatchNorm CNN sized for a 2-core CPU (BENCHMARKS.md has the measurement that chose it).

    One cheap convolution at 48x48, then three stages of two 3x3 convolutions at 24, 12 and 6 pixels, global average
    pooling and a small dense head: 1.23M parameters, about twice the training speed of two convolutions at 48x48.
    """
    def two_convolutions(x, width: int, stage: int):
        return _conv_bn(_conv_bn(x, width, f"stage{stage}a"), width, f"stage{stage}b")

    return _staged(input_shape, num_classes, widths, two_convolutions, dropout=0.4, name="vggbn")


def _staged(input_shape, num_classes: int, widths, stage_blocks, dropout: float, name: str) -> keras.Model:
    """The frame `vggbn` and `sepvgg` share: rescaling, one convolution at full size and a pool, then a stage per
    further width (`stage_blocks(x, width, stage)`, pooled after each but the last), global average pooling and a
    dense head with dropout."""
    inputs = keras.Input(shape=input_shape, name="face")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = _conv_bn(x, widths[0], "stage1")
    x = layers.MaxPooling2D(2, name="stage1_pool")(x)
    for stage, width in enumerate(widths[1:], start=2):
        x = stage_blocks(x, width, stage)
        if stage < len(widths):
            x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(dropout, name="drop1")(x)
    x = layers.Dense(256, activation="relu", name="fc1")(x)
    x = layers.Dropout(dropout, name="drop2")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def _separable_bn(x, filters: int, name: str):
    """Depthwise 3x3 (no bias, no activation: Xception's separable convolution) + pointwise 1x1 + BatchNorm + ReLU."""
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def sepvgg(input_shape=(48, 48, 1), num_classes: int = 7, widths=(32, 64, 128, 256), blocks: int = 3) -> keras.Model:
    """`vggbn`'s stages with separable convolutions, `blocks` per stage: about 20 M multiply-adds, 0.2 M parameters."""
    def separable_stage(x, width: int, stage: int):
        for block in range(blocks):
            x = _separable_bn(x, width, f"stage{stage}{'abcdef'[block]}")
        return x

    return _staged(input_shape, num_classes, widths, separable_stage, dropout=0.3, name="sepvgg")


def sepvgg_wide(input_shape=(48, 48, 1), num_classes: int = 7) -> keras.Model:
    """`sepvgg` at 1.5x the widths (48-96-192-384): about 40 M multiply-adds."""
    model = sepvgg(input_shape, num_classes, widths=(48, 96, 192, 384))
    return keras.Model(model.inputs, model.outputs, name="sepvgg_wide")


def vggslim(input_shape=(48, 48, 1), num_classes: int = 7) -> keras.Model:
    model = vggbn(input_shape, num_classes, widths=(16, 32, 64, 128))
    return keras.Model(model.inputs, model.outputs, name="vggslim")


def mask_net(input_shape=(64, 64, 3), num_classes: int = 2) -> keras.Model:
    """Small BatchNorm CNN for mask / no mask: 4 stages 16-32-64-96, global pooling.

    BatchNorm momentum 0.9: with ~50 steps per epoch the default 0.99 leaves the moving statistics far behind the
    weights (measured: 94 % accuracy in training mode, 61 % in inference mode after 5 epochs).
    """
    inputs = keras.Input(shape=input_shape, name="face")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for stage, width in enumerate((16, 32, 64, 96), start=1):
        x = _conv_bn(x, width, f"stage{stage}", momentum=0.9)
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dropout(0.3, name="drop")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mask_net")


NETWORKS = {"seed": seed, "vggbn": vggbn, "vggslim": vggslim, "sepvgg": sepvgg, "sepvgg_wide": sepvgg_wide,
            "mask_net": mask_net}


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one forward pass of one image through the convolution and dense layers (the cost that matters
    on a CPU; BatchNorm folds into the convolutions at inference, pooling and activations are comparatively free)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.Dense)):
            positions = 1
            for side in layer.output.shape[1:-1]:
                positions *= side
            kernel = 1
            for side in layer.kernel.shape:
                kernel *= side
            total += positions * kernel
    return total


def build_network(name: str, input_shape, num_classes: int) -> keras.Model:
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose one of {sorted(NETWORKS)}")
    return NETWORKS[name](input_shape=input_shape, num_classes=num_classes)
