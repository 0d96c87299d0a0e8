"""A Keras 3 model -> TensorFlow.js "layers-model" bundle (model.json + binary weight shards), written by hand.

Why not the `tensorflowjs` pip package (4.22.0): `pip install tensorflowjs` downgrades TensorFlow to 2.19 (through
tensorflow-decision-forests), and installed beside TF 2.21 with --no-deps it does not import (it imports
tensorflow_decision_forests, whose compiled library does not load on 2.21); and tfjs 4.x refuses the Keras 3 configs
it would copy ("An InputLayer should be passed either a batchInputShape or an inputShape"; DTypePolicy dicts;
`sequential/` weight prefixes). The layers-model format is small and documented by tfjs itself, so this module writes it
for exactly the layer types our networks use (train/networks.py, and BlazeFace and the face-mesh network rebuilt by
export/blazeface_keras.py)
and refuses anything else by name.

model.json:
    {"format": "layers-model", "generatedBy": ..., "convertedBy": ...,
     "modelTopology": {"class_name": "Functional", "config": {"name", "layers": [...], "input_layers", "output_layers"},
                       "keras_version": ..., "backend": "tensorflow"},
     "weightsManifest": [{"paths": ["<name>.weights.bin" | "<name>-shardKofN.bin", ...],
                          "weights": [{"name": "<layer>/<weight>", "shape": [...], "dtype": "float32",
                                       "quantization": {...}?}]}]}
Each layer of "layers" is Keras-2 style: {"class_name", "name", "config" (snake_case keys, `batch_input_shape` on the
InputLayer, plain dtype strings), "inbound_nodes": [[[inbound_layer, node_index, tensor_index, {}]]]}.
Weights are concatenated little-endian in manifest order. Quantization (the tfjs format):
    float16: values stored as IEEE half floats, {"dtype": "float16"};
    uint8:   per tensor, value = q * scale + min, {"dtype": "uint8", "scale", "min"}; the range is nudged so that 0.0 is
             exactly representable (zero biases stay zero), as tfjs's own converter does.
Only tensors of at least QUANTIZE_MIN_ELEMENTS values (convolution and dense kernels) are quantized; biases and
BatchNorm vectors stay float32 (a few KB): one uint8 range per BatchNorm vector cost the real expression model 2 % of
top-1 agreement with Keras (97.99 %, below the 99 % the check requires).
"""

from __future__ import annotations

import json
import math

import numpy as np

from export import ExportError

FORMAT = "layers-model"
GENERATED_BY = "facexp export/tfjs_layers.py"
KERAS_VERSION_TAG = "2.15.0"  # the Keras-2 config dialect tfjs-layers reads (the real Keras is 3)
SHARD_BYTES = 4 * 1024 * 1024  # tfjs's own converter default
QUANTIZATIONS = (None, "float16", "uint8")
QUANTIZE_MIN_ELEMENTS = 1024
ACTIVATIONS = ("linear", "relu", "softmax", "sigmoid", "tanh")
# Keras 3 resizes bilinearly with half-pixel centres; tfjs-layers' UpSampling2D does not (tf.image.resizeBilinear's
# default). A bilinear UpSampling2D is therefore written as this class, a custom layer defined by the page
# (web_static/js/layers.js, registered before any model loads) that resizes with half-pixel centres.
HALF_PIXEL_UPSAMPLING = "HalfPixelUpSampling2D"
MULTI_INPUT_LAYERS = ("Add", "Concatenate")  # called on a list of tensors


# ---------------------------------------------------------------------------------------------------------------------
# Topology: Keras 3 layer configs -> Keras-2-style configs tfjs-layers 4.x deserializes
# ---------------------------------------------------------------------------------------------------------------------


def _dtype_name(value) -> str:
    if isinstance(value, dict):  # Keras 3 DTypePolicy {"class_name": "DTypePolicy", "config": {"name": "float32"}}
        value = value.get("config", {}).get("name")
    if value not in (None, "float32"):
        raise ExportError(f"dtype {value!r}: only float32 layers are exported (no mixed precision)")
    return "float32"


def _activation(layer: str, value) -> str:
    if isinstance(value, dict):
        value = value.get("config", {}).get("name", value.get("class_name"))
    value = value or "linear"
    if value not in ACTIVATIONS:
        raise ExportError(f"layer {layer!r}: activation {value!r} is not one of {ACTIVATIONS}")
    return value


def _pair(value) -> list[int]:
    if isinstance(value, int):
        return [value, value]
    return [int(v) for v in value]


def _channels_last(layer: str, config: dict) -> str:
    data_format = config.get("data_format") or "channels_last"
    if data_format != "channels_last":
        raise ExportError(f"layer {layer!r}: data_format {data_format!r}; only channels_last is exported")
    return data_format


def _require(layer: str, condition: bool, message: str) -> None:
    if not condition:
        raise ExportError(f"layer {layer!r}: {message}")


def _convolution_fields(layer: str, config: dict) -> dict:
    """The fields Conv2D and DepthwiseConv2D share, in tfjs's order (after each one's own kernel fields)."""
    _require(layer, config.get("padding") in ("valid", "same"), f"padding {config.get('padding')!r}")
    return {
        "strides": _pair(config.get("strides", 1)),
        "padding": config["padding"],
        "data_format": _channels_last(layer, config),
        "dilation_rate": _pair(config.get("dilation_rate", 1)),
        "activation": _activation(layer, config.get("activation")),
        "use_bias": bool(config.get("use_bias", True)),
    }


def convert_layer_config(class_name: str, config: dict) -> dict:
    """One Keras 3 layer config -> the tfjs (Keras 2) config of the same layer, or ExportError naming the problem."""
    name = config["name"]
    base = {"name": name, "trainable": bool(config.get("trainable", True)), "dtype": _dtype_name(config.get("dtype"))}
    if class_name == "InputLayer":
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        _require(name, shape is not None, "InputLayer without batch_shape")
        _require(name, not config.get("sparse") and not config.get("ragged"), "sparse/ragged inputs are not exported")
        return {"batch_input_shape": list(shape), "dtype": base["dtype"], "sparse": False, "name": name}
    if class_name == "Rescaling":
        scale, offset = config.get("scale"), config.get("offset", 0.0)
        _require(name, isinstance(scale, (int, float)) and isinstance(offset, (int, float)),
                 "only scalar Rescaling scale/offset is exported")
        return {**base, "scale": float(scale), "offset": float(offset)}
    if class_name == "Conv2D":
        _require(name, config.get("groups", 1) == 1, "grouped convolutions are not exported")
        return {**base, "filters": int(config["filters"]), "kernel_size": _pair(config["kernel_size"]),
                **_convolution_fields(name, config)}
    if class_name == "DepthwiseConv2D":
        return {**base, "kernel_size": _pair(config["kernel_size"]),
                "depth_multiplier": int(config.get("depth_multiplier", 1)), **_convolution_fields(name, config)}
    if class_name == "BatchNormalization":
        axis = config.get("axis", -1)
        if isinstance(axis, list):
            _require(name, len(axis) == 1, f"axis {axis}")
            axis = axis[0]
        _require(name, axis in (-1, 3), f"axis {axis}; only the channel axis (-1) is exported")
        _require(name, not config.get("renorm", False), "batch renormalization is not exported")
        return {
            **base,
            "axis": -1,
            "momentum": float(config.get("momentum", 0.99)),
            "epsilon": float(config.get("epsilon", 1e-3)),
            "center": bool(config.get("center", True)),
            "scale": bool(config.get("scale", True)),
        }
    if class_name == "Activation":
        return {**base, "activation": _activation(name, config.get("activation"))}
    if class_name == "MaxPooling2D":
        pool = _pair(config.get("pool_size", 2))
        strides = config.get("strides")
        return {
            **base,
            "pool_size": pool,
            "strides": _pair(strides) if strides is not None else pool,
            "padding": config.get("padding", "valid"),
            "data_format": _channels_last(name, config),
        }
    if class_name == "Dropout":
        _require(name, not config.get("noise_shape"), "Dropout noise_shape is not exported")
        return {**base, "rate": float(config.get("rate", 0.0))}
    if class_name == "Flatten":
        return {**base, "data_format": _channels_last(name, config)}
    if class_name == "GlobalAveragePooling2D":
        _require(name, not config.get("keepdims", False), "GlobalAveragePooling2D keepdims=True is not exported")
        return {**base, "data_format": _channels_last(name, config)}
    if class_name in ("Add", "Concatenate"):
        if class_name == "Concatenate":
            return {**base, "axis": int(config.get("axis", -1))}
        return base
    if class_name == "Reshape":
        return {**base, "target_shape": [int(v) for v in config["target_shape"]]}
    if class_name == "UpSampling2D":
        _require(name, config.get("interpolation", "nearest") in ("nearest", "bilinear"),
                 f"interpolation {config.get('interpolation')!r}")
        return {**base, "size": _pair(config.get("size", 2)), "data_format": _channels_last(name, config),
                "interpolation": config.get("interpolation", "nearest")}
    if class_name == "PReLU":
        _require(name, not config.get("alpha_regularizer") and not config.get("alpha_constraint"),
                 "PReLU with a regularizer or constraint is not exported")
        shared = config.get("shared_axes")
        return {**base, "shared_axes": None if shared is None else [int(v) for v in shared]}
    if class_name == "Dense":
        return {
            **base,
            "units": int(config["units"]),
            "activation": _activation(name, config.get("activation")),
            "use_bias": bool(config.get("use_bias", True)),
        }
    raise ExportError(
        f"layer {name!r}: type {class_name} is not supported by the exporter "
        "(supported: InputLayer, Rescaling, Conv2D, DepthwiseConv2D, BatchNormalization, Activation, MaxPooling2D, Dropout, Flatten, "
        "GlobalAveragePooling2D, Dense, Add, Concatenate, Reshape, UpSampling2D, PReLU)"
    )


def tfjs_class_name(class_name: str, config: dict) -> str:
    """The class tfjs instantiates for a Keras layer (the same name, except HALF_PIXEL_UPSAMPLING)."""
    if class_name == "UpSampling2D" and config.get("interpolation") == "bilinear":
        return HALF_PIXEL_UPSAMPLING
    return class_name


def _history(argument, layer: str) -> list:
    """[inbound_layer, node_index, tensor_index, {}] from a Keras 3 serialized KerasTensor."""
    if isinstance(argument, list) and len(argument) == 1:
        argument = argument[0]
    if not (isinstance(argument, dict) and argument.get("class_name") == "__keras_tensor__"):
        raise ExportError(f"layer {layer!r}: only layers with one tensor input are exported (got {str(argument)[:80]})")
    inbound, node_index, tensor_index = argument["config"]["keras_history"]
    return [inbound, int(node_index), int(tensor_index), {}]


def _histories(class_name: str, argument, layer: str) -> list:
    """The inbound tensors of one call: one for most layers, a list of them for Add / Concatenate."""
    if class_name in MULTI_INPUT_LAYERS:
        if not (isinstance(argument, list) and len(argument) >= 2):
            raise ExportError(f"layer {layer!r}: {class_name} needs a list of at least two tensors")
        return [_history(item, layer) for item in argument]
    return [_history(argument, layer)]


def model_topology(keras_config: dict) -> dict:
    """Keras 3 `model.get_config()`-style dict (Functional or Sequential) -> tfjs "modelTopology"."""
    class_name = keras_config.get("class_name")
    config = keras_config.get("config", {})
    layers_in = config.get("layers") or []
    layers_out = []
    if class_name == "Sequential":
        previous = None
        for index, layer in enumerate(layers_in):
            tf_config = convert_layer_config(layer["class_name"], layer["config"])
            if index == 0 and layer["class_name"] != "InputLayer":
                raise ExportError("a Sequential model must start with an InputLayer (build it with keras.Input)")
            inbound = [] if previous is None else [[[previous, 0, 0, {}]]]
            layers_out.append({"class_name": tfjs_class_name(layer["class_name"], tf_config), "name": tf_config["name"],
                               "config": tf_config, "inbound_nodes": inbound})
            previous = tf_config["name"]
        inputs, outputs = [[layers_out[0]["name"], 0, 0]], [[previous, 0, 0]]
    elif class_name in ("Functional", "Model"):
        for layer in layers_in:
            tf_config = convert_layer_config(layer["class_name"], layer["config"])
            nodes = layer.get("inbound_nodes") or []
            if len(nodes) > 1:
                raise ExportError(f"layer {tf_config['name']!r} is called more than once (shared layers are not exported)")
            inbound = []
            for node in nodes:
                args = node.get("args", []) if isinstance(node, dict) else node
                if node.get("kwargs") if isinstance(node, dict) else False:
                    extra = set(node["kwargs"]) - {"training", "mask"}
                    if extra:
                        raise ExportError(f"layer {tf_config['name']!r}: call arguments {sorted(extra)} are not exported")
                if len(args) != 1:
                    raise ExportError(f"layer {tf_config['name']!r}: only layers with one tensor input are exported")
                inbound.append(_histories(layer["class_name"], args[0], tf_config["name"]))
            layers_out.append({"class_name": tfjs_class_name(layer["class_name"], tf_config), "name": tf_config["name"],
                               "config": tf_config, "inbound_nodes": inbound})

        def endpoints(value):
            if value and isinstance(value[0], str):  # Keras 3 writes a single endpoint flat: ["face", 0, 0]
                value = [value]
            return [[str(v[0]), int(v[1]), int(v[2])] for v in value]

        inputs, outputs = endpoints(config["input_layers"]), endpoints(config["output_layers"])
        if len(inputs) != 1:
            raise ExportError(f"only single-input models are exported (got {len(inputs)} inputs)")
    else:
        raise ExportError(f"model class {class_name!r}: only Functional and Sequential models are exported")
    return {
        "class_name": "Functional",
        "config": {"name": config.get("name", "model"), "layers": layers_out, "input_layers": inputs,
                   "output_layers": outputs},
        "keras_version": KERAS_VERSION_TAG,
        "backend": "tensorflow",
    }


# ---------------------------------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------------------------------

WEIGHT_NAMES = {
    "Conv2D": ("kernel", "bias"),
    "DepthwiseConv2D": ("kernel", "bias"),
    "Dense": ("kernel", "bias"),
    "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "PReLU": ("alpha",),
}
# Keras 3 calls a depthwise kernel "kernel"; tfjs-layers (like Keras 2) names that variable "depthwise_kernel".
TFJS_WEIGHT_NAMES = {("DepthwiseConv2D", "kernel"): "depthwise_kernel"}


def model_weights(model) -> list[tuple[str, np.ndarray]]:
    """[("layer/weight", float32 array)] in the names tfjs-layers gives its variables (`<layer name>/<weight name>`)."""
    weights = []
    for layer in model.layers:
        kind = type(layer).__name__
        expected = WEIGHT_NAMES.get(kind, ())
        variables = list(layer.weights)
        names = [variable.name.split("/")[-1] for variable in variables]
        wanted = [name for name in expected if name in names]
        if sorted(wanted) != sorted(names):
            raise ExportError(f"layer {layer.name!r} ({kind}) has weights {names}; the exporter knows {list(expected)}")
        for variable in variables:
            short = variable.name.split("/")[-1]
            short = TFJS_WEIGHT_NAMES.get((kind, short), short)
            weights.append((f"{layer.name}/{short}", np.asarray(variable.numpy(), dtype=np.float32)))
    return weights


def quantize(values: np.ndarray, mode: str | None) -> tuple[bytes, dict | None, np.ndarray]:
    """Encode one float32 tensor. Returns (bytes, tfjs "quantization" entry or None, the values tfjs will decode)."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    if mode is None:
        return values.astype("<f4").tobytes(), None, values
    if mode == "float16":
        if np.abs(values).max(initial=0.0) > 65504:
            raise ExportError("a weight exceeds the float16 range (65504); export as float32 or uint8")
        half = values.astype("<f2")
        return half.tobytes(), {"dtype": "float16", "original_dtype": "float32"}, half.astype(np.float32)
    if mode == "uint8":
        low, high = float(min(values.min(initial=0.0), 0.0)), float(max(values.max(initial=0.0), 0.0))
        if high - low < 1e-12:
            scale, low = 1.0, 0.0
        else:
            scale = (high - low) / 255.0
            zero_point = round(-low / scale)  # nudge so that 0.0 maps exactly to an integer
            low = -zero_point * scale
        q = np.clip(np.round((values - low) / scale), 0, 255).astype(np.uint8)
        entry = {"dtype": "uint8", "scale": float(np.float32(scale)), "min": float(np.float32(low)),
                 "original_dtype": "float32"}
        decoded = q.astype(np.float32) * np.float32(entry["scale"]) + np.float32(entry["min"])
        return q.tobytes(), entry, decoded
    raise ExportError(f"unknown quantization {mode!r}; choose one of float16, uint8 (or none for float32)")


def shard_names(name: str, count: int) -> list[str]:
    if count == 1:
        return [f"{name}.weights.bin"]
    return [f"{name}-shard{i}of{count}.bin" for i in range(1, count + 1)]


def encode_weight(values: np.ndarray, quantization: str | None) -> tuple[bytes, dict | None, np.ndarray]:
    """One weight tensor as a bundle stores it: `quantize` for the tensors of at least QUANTIZE_MIN_ELEMENTS values,
    float32 for the rest. Returns (bytes, quantization entry or None, the values tfjs will decode)."""
    return quantize(values, quantization if values.size >= QUANTIZE_MIN_ELEMENTS else None)


def build_bundle(model, name: str, quantization: str | None = None, shard_bytes: int = SHARD_BYTES):
    """The tfjs model.json dict and the weight shards {file name: bytes}, without writing anything."""
    if quantization not in QUANTIZATIONS:
        raise ExportError(f"unknown quantization {quantization!r}; choose one of float16, uint8 (or none for float32)")
    topology = model_topology({"class_name": type(model).__name__ if type(model).__name__ == "Sequential" else "Functional",
                               "config": model.get_config()})
    specs, blobs = [], []
    for weight_name, values in model_weights(model):
        data, entry, _ = encode_weight(values, quantization)
        spec = {"name": weight_name, "shape": list(values.shape), "dtype": "float32"}
        if entry is not None:
            spec["quantization"] = entry
        specs.append(spec)
        blobs.append(data)
    payload = b"".join(blobs)
    count = max(1, math.ceil(len(payload) / shard_bytes))
    paths = shard_names(name, count)
    shards = {path: payload[i * shard_bytes:(i + 1) * shard_bytes] for i, path in enumerate(paths)}
    manifest = {
        "format": FORMAT,
        "generatedBy": GENERATED_BY,
        "convertedBy": f"{GENERATED_BY} ({'float32' if quantization is None else quantization} weights)",
        "modelTopology": topology,
        "weightsManifest": [{"paths": paths, "weights": specs}],
    }
    return manifest, shards


def dumps(manifest: dict) -> str:
    return json.dumps(manifest, separators=(",", ":")) + "\n"

