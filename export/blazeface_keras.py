"""BlazeFace (and the face-mesh network of core/face_check.py) rebuilt as a Keras 3 model from its .tflite file, op for
op, with the file's own weights.

The page runs the detector as a TensorFlow.js layers model (export/tfjs_layers.py writes it), so that one runtime
(TensorFlow.js) runs all its networks. `keras_from_tflite(path)` reads the .tflite flatbuffer (TensorFlow's
`schema_py_generated`; no interpreter, so no delegate rewrites the graph) and rebuilds its graph in execution order:

    TFLite op                      Keras layer
    CONV_2D (+ fused ReLU)         Conv2D (kernel [O, kh, kw, I] -> [kh, kw, I, O])
    DEPTHWISE_CONV_2D              DepthwiseConv2D (kernel [1, kh, kw, C] -> [kh, kw, C, 1])
    RELU                           folded into the convolution before it when that is its only reader, else Activation
    ADD                            Add
    PRELU (alpha [1, 1, C])        PReLU(shared_axes=[1, 2]) (the face-mesh network)
    MAX_POOL_2D                    MaxPooling2D
    RESIZE_BILINEAR (half-pixel)   UpSampling2D(bilinear) (Keras 3 resizes with half-pixel centres, as the file does)
    RESHAPE, CONCATENATION         Reshape, Concatenate
    DEQUANTIZE (float16 weights)   the weights cast to float32 (exact)

Channel padding (PAD of the channel axis at its end, feeding ADD with a 1x1 convolution's output: the residual path of
a "blaze block" that widens the channels) has no TensorFlow.js layer. It is rebuilt without one and without extra
arithmetic: pad(x, k) + conv(z) == concat(x + conv_head(z), conv_tail(z)), where conv_head holds the first C filters
of the convolution and conv_tail the last k (adding the padding's zeros is exact, so the outputs are the same numbers).
Padding and strides are read from the op options; spatial padding ops, dilation, depth multipliers and other fused
activations are refused by name (the two BlazeFace files and the face-mesh file use none).

Outputs: BlazeFace's [regressors (1, N, 16), classificators (1, N, 1)] in the file's output order, as core.detector
reads them; the face-mesh file's [landmarks (1, 1, 1, 1404), presence logit (1, 1, 1, 1)], of which the page's
face check keeps the second (`outputs=[1]`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from export import ExportError

# tflite schema enums (tensorflow/lite/schema/schema.fbs)
PADDING = {0: "same", 1: "valid"}
ACTIVATION_NONE, ACTIVATION_RELU = 0, 1
TENSOR_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32}


def _layer_name(tensor_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", tensor_name).strip("_") or "tensor"


class TfliteGraph:
    """The tensors, constant buffers and operators of a .tflite file's first subgraph."""

    def __init__(self, path: Path):
        from tensorflow.lite.python import schema_py_generated as schema

        self.schema = schema
        self.path = Path(path)
        data = self.path.read_bytes()
        self.model = schema.Model.GetRootAsModel(data, 0)
        self.graph = self.model.Subgraphs(0)
        self.op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        self.tensors = [self.graph.Tensors(i) for i in range(self.graph.TensorsLength())]
        self.inputs = [self.graph.Inputs(i) for i in range(self.graph.InputsLength())]
        self.outputs = [self.graph.Outputs(i) for i in range(self.graph.OutputsLength())]
        self.ops = [self.graph.Operators(i) for i in range(self.graph.OperatorsLength())]

    def name(self, index: int) -> str:
        return self.tensors[index].Name().decode()

    def shape(self, index: int) -> list[int]:
        return self.tensors[index].ShapeAsNumpy().tolist()

    def constant(self, index: int) -> np.ndarray | None:
        tensor = self.tensors[index]
        buffer = self.model.Buffers(tensor.Buffer())
        if buffer is None or buffer.DataLength() == 0:
            return None
        dtype = TENSOR_DTYPES.get(tensor.Type())
        if dtype is None:
            raise ExportError(f"{self.path.name}: tensor {self.name(index)!r} has tflite type {tensor.Type()}, not read")
        return np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype).reshape(self.shape(index))

    def op_name(self, op) -> str:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        return self.op_names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]

    def options(self, op, cls_name: str):
        table = op.BuiltinOptions()
        options = getattr(self.schema, cls_name)()
        options.Init(table.Bytes, table.Pos)
        return options

    def op_inputs(self, op) -> list[int]:
        return [i for i in op.InputsAsNumpy().tolist() if i >= 0]

    def op_outputs(self, op) -> list[int]:
        return op.OutputsAsNumpy().tolist()


def _readers(graph: TfliteGraph) -> dict[int, list]:
    readers: dict[int, list] = {}
    for op in graph.ops:
        for index in graph.op_inputs(op):
            readers.setdefault(index, []).append(op)
    for index in graph.outputs:
        readers.setdefault(index, []).append(None)  # a model output is read from outside
    return readers


def keras_from_tflite(path: Path, name: str | None = None, outputs: list[int] | None = None):
    """The Keras 3 functional model computing what the .tflite file computes (see the module docstring); `outputs`:
    the positions of the file's outputs to keep (all by default; the layers only the others need are left out)."""
    import keras

    graph = TfliteGraph(path)
    readers = _readers(graph)
    if len(graph.inputs) != 1:
        raise ExportError(f"{graph.path.name}: {len(graph.inputs)} inputs; BlazeFace and the face-mesh network have one")
    input_index = graph.inputs[0]
    inputs = keras.Input(batch_shape=(None, *graph.shape(input_index)[1:]), name=_layer_name(graph.name(input_index)))
    values: dict[int, object] = {input_index: inputs}  # tensor index -> Keras tensor
    constants: dict[int, np.ndarray] = {}  # tensor index -> float32 weights
    padded: dict[int, tuple[int, int]] = {}  # PAD output -> (its input tensor, channels added)
    deferred: dict[int, tuple] = {}  # a 1x1 conv's output that meets a channel-padded ADD -> (input, kernel, bias, name)
    relu_folded: set[int] = set()  # conv outputs whose only reader, a RELU, became the conv's activation

    def constant(index: int) -> np.ndarray:
        if index in constants:
            return constants[index]
        value = graph.constant(index)
        if value is None:
            raise ExportError(f"{graph.path.name}: {graph.name(index)!r} is not a constant")
        return value.astype(np.float32)

    def only_reader(index: int, op_name: str):
        found = readers.get(index, [])
        return found[0] if len(found) == 1 and found[0] is not None and graph.op_name(found[0]) == op_name else None

    def meets_padding(index: int) -> bool:
        add = only_reader(index, "ADD")
        return add is not None and any(graph.op_outputs(op)[0] in graph.op_inputs(add)
                                       for op in graph.ops if graph.op_name(op) == "PAD")

    for op in graph.ops:
        kind = graph.op_name(op)
        ins, outs = graph.op_inputs(op), graph.op_outputs(op)
        out = outs[0]
        layer = _layer_name(graph.name(out))
        if kind == "DEQUANTIZE":
            constants[out] = constant(ins[0])
        elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            depthwise = kind == "DEPTHWISE_CONV_2D"
            options = graph.options(op, "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions")
            if (options.DilationHFactor(), options.DilationWFactor()) != (1, 1):
                raise ExportError(f"{graph.path.name}: {layer}: dilated convolutions are not rebuilt")
            if depthwise and options.DepthMultiplier() not in (0, 1):
                raise ExportError(f"{graph.path.name}: {layer}: depth multiplier {options.DepthMultiplier()}")
            fused = options.FusedActivationFunction()
            if fused not in (ACTIVATION_NONE, ACTIVATION_RELU):
                raise ExportError(f"{graph.path.name}: {layer}: fused activation {fused} is not rebuilt")
            kernel, bias = constant(ins[1]), constant(ins[2])
            strides = (options.StrideH(), options.StrideW())
            padding = PADDING[options.Padding()]
            activation = "relu" if fused == ACTIVATION_RELU else None
            reader = only_reader(out, "RELU")
            if activation is None and reader is not None:
                activation = "relu"
                relu_folded.add(out)
                layer = _layer_name(graph.name(graph.op_outputs(reader)[0]))
            if depthwise:
                conv = keras.layers.DepthwiseConv2D(kernel.shape[1:3], strides=strides, padding=padding,
                                                    activation=activation, name=layer)
                weights = [kernel.transpose(1, 2, 3, 0), bias]
            else:
                if not activation and meets_padding(out):
                    if kernel.shape[1:3] != (1, 1) or strides != (1, 1):
                        raise ExportError(f"{graph.path.name}: {layer}: channel padding meets a {kernel.shape} conv")
                    deferred[out] = (values[ins[0]], kernel.transpose(1, 2, 3, 0), bias, layer)
                    continue
                conv = keras.layers.Conv2D(kernel.shape[0], kernel.shape[1:3], strides=strides, padding=padding,
                                           activation=activation, name=layer)
                weights = [kernel.transpose(1, 2, 3, 0), bias]
            values[out] = conv(values[ins[0]])
            conv.set_weights(weights)
        elif kind == "RELU":
            if ins[0] in relu_folded:
                values[out] = values[ins[0]]
            else:
                values[out] = keras.layers.Activation("relu", name=layer)(values[ins[0]])
        elif kind == "PAD":
            pads = constant(ins[1]).astype(int).tolist() if graph.constant(ins[1]) is not None else None
            if pads is None or pads[:3] != [[0, 0]] * 3 or pads[3][0] != 0:
                raise ExportError(f"{graph.path.name}: {layer}: only channel padding at the end is rebuilt (got {pads})")
            padded[out] = (ins[0], pads[3][1])
        elif kind == "ADD":
            options = graph.options(op, "AddOptions")
            if options.FusedActivationFunction() != ACTIVATION_NONE:
                raise ExportError(f"{graph.path.name}: {layer}: ADD with a fused activation is not rebuilt")
            pad_in = [i for i in ins if i in padded]
            if pad_in:
                source, extra = padded[pad_in[0]]
                other = [i for i in ins if i != pad_in[0]][0]
                if other not in deferred:
                    raise ExportError(f"{graph.path.name}: {layer}: channel padding added to a non-1x1-conv output")
                conv_in, kernel, bias, conv_name = deferred.pop(other)
                keep = kernel.shape[-1] - extra
                head = keras.layers.Conv2D(keep, 1, name=f"{conv_name}_head")
                tail = keras.layers.Conv2D(extra, 1, name=f"{conv_name}_tail")
                head_out, tail_out = head(conv_in), tail(conv_in)
                head.set_weights([kernel[..., :keep], bias[:keep]])
                tail.set_weights([kernel[..., keep:], bias[keep:]])
                summed = keras.layers.Add(name=f"{layer}_head")([values[source], head_out])
                values[out] = keras.layers.Concatenate(axis=-1, name=layer)([summed, tail_out])
            else:
                values[out] = keras.layers.Add(name=layer)([values[i] for i in ins])
        elif kind == "PRELU":
            alpha = constant(ins[1])
            prelu = keras.layers.PReLU(shared_axes=[1, 2], name=layer)
            values[out] = prelu(values[ins[0]])
            prelu.set_weights([alpha.reshape(1, 1, -1)])
        elif kind == "MAX_POOL_2D":
            options = graph.options(op, "Pool2DOptions")
            if options.FusedActivationFunction() != ACTIVATION_NONE:
                raise ExportError(f"{graph.path.name}: {layer}: pooling with a fused activation is not rebuilt")
            values[out] = keras.layers.MaxPooling2D((options.FilterHeight(), options.FilterWidth()),
                                                    strides=(options.StrideH(), options.StrideW()),
                                                    padding=PADDING[options.Padding()], name=layer)(values[ins[0]])
        elif kind == "RESIZE_BILINEAR":
            options = graph.options(op, "ResizeBilinearOptions")
            if options.AlignCorners() or not options.HalfPixelCenters():
                raise ExportError(f"{graph.path.name}: {layer}: only half-pixel bilinear resizing is rebuilt")
            (_, h, w, _), (_, oh, ow, _) = graph.shape(ins[0]), graph.shape(out)
            if oh % h or ow % w:
                raise ExportError(f"{graph.path.name}: {layer}: resize {h}x{w} -> {oh}x{ow} is not an integer factor")
            values[out] = keras.layers.UpSampling2D((oh // h, ow // w), interpolation="bilinear", name=layer)(values[ins[0]])
        elif kind == "RESHAPE":
            values[out] = keras.layers.Reshape(tuple(graph.shape(out)[1:]), name=layer)(values[ins[0]])
        elif kind == "CONCATENATION":
            options = graph.options(op, "ConcatenationOptions")
            if options.FusedActivationFunction() != ACTIVATION_NONE:
                raise ExportError(f"{graph.path.name}: {layer}: concatenation with a fused activation is not rebuilt")
            values[out] = keras.layers.Concatenate(axis=options.Axis(), name=layer)([values[i] for i in ins])
        else:
            raise ExportError(f"{graph.path.name}: op {kind} is not rebuilt (the files rebuilt use CONV_2D, DEPTHWISE_CONV_2D, "
                              "RELU, PRELU, ADD, PAD, MAX_POOL_2D, RESIZE_BILINEAR, RESHAPE, CONCATENATION, DEQUANTIZE)")
    kept = graph.outputs if outputs is None else [graph.outputs[i] for i in outputs]
    missing = [graph.name(i) for i in kept if i not in values]
    if missing:
        raise ExportError(f"{graph.path.name}: outputs {missing} were not rebuilt")
    return keras.Model(inputs, [values[i] for i in kept], name=name or _layer_name(graph.path.stem))
