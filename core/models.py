"""Saving and loading the shipped models: Keras JSON architecture + weights + metadata, in one folder.

A model folder holds:
- `model.json`: the architecture (`keras.Model.to_json()`),
- `model.weights.h5`: the weights,
- `metadata.json`: task, label list (from `core.labels`), input size/channels, test-time augmentation,
- `TRAINING.md` / `training.json`: how it was trained (written by `train.train`).

`FacialExpressionModel` and `FaceMaskModel` load such a folder and classify a batch of face crops in one call of a
compiled `tf.function` (never `model.predict` per call: it costs ~100 ms of set-up each time), or, with
`backend="litert"`, of the same network converted in memory to LiteRT (faster on this CPU; the tests check
that both give the same probabilities to 1e-4).

Calibration: metadata.json may hold a `temperature` T (fitted on validation data by `train.calibrate`; absent = 1.0).
The networks end in softmax, so the calibrated probabilities are softmax(log(p) / T), applied to the probabilities
*after* test-time augmentation averaging (the averaged probabilities are what T was fitted on). `apply_temperature`
here and `applyTemperature` in web_static/js/models.js are the same computation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.files import save_weights_atomically, write_atomically
from core.labels import LABELS_BY_TASK
from core.preprocess import crop_metadata

ARCHITECTURE_FILE = "model.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
REPO_ROOT = Path(__file__).resolve().parent.parent
EMOTION_MODEL_DIR = REPO_ROOT / "models" / "emotion"
MASK_MODEL_DIR = REPO_ROOT / "models" / "mask"


class ModelFileError(RuntimeError):
    """A model folder that is missing a file or whose files do not fit together."""


PROBABILITY_FLOOR = 1e-12  # log(0) guard, the same in web_static/js/models.js


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T) per row: T > 1 softens over-confident probabilities, T < 1 sharpens; T = 1 changes nothing."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if temperature == 1.0 or probabilities.size == 0:
        return probabilities
    logits = np.log(np.maximum(probabilities.astype(np.float64), PROBABILITY_FLOOR)) / float(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def make_metadata(task: str, input_shape, tta: list[str]) -> dict:
    size, _, channels = input_shape
    return {
        "task": task,
        "labels": list(LABELS_BY_TASK[task]),
        "input": {"size": int(size), "channels": int(channels), "pixels": "0-255, float32; the network rescales"},
        "tta": list(tta),
        "crop": crop_metadata(),
    }


def save_model_folder(model, folder: Path, metadata: dict) -> None:
    """Write architecture JSON, weights and metadata into `folder` (each file atomically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    import keras

    # The architecture alone: without "compile_config" the loaded model is not compiled, so neither it nor the
    # weights file carries an optimizer (whose state is twice the size of the weights).
    config = json.loads(model.to_json())
    config.pop("compile_config", None)
    architecture = json.dumps(config, indent=1)
    weights_only = keras.models.model_from_json(architecture)
    weights_only.set_weights(model.get_weights())
    write_atomically(folder / ARCHITECTURE_FILE, architecture)
    save_weights_atomically(weights_only, folder / WEIGHTS_FILE)
    write_atomically(folder / METADATA_FILE, json.dumps(metadata, indent=2) + "\n")


def load_keras_model(folder: Path):
    """Rebuild the Keras model from `model.json` and load `model.weights.h5`. Returns (model, metadata)."""
    import keras

    folder = Path(folder)
    for name in (ARCHITECTURE_FILE, WEIGHTS_FILE, METADATA_FILE):
        if not (folder / name).is_file():
            raise ModelFileError(f"{folder}: missing {name} (expected {ARCHITECTURE_FILE}, {WEIGHTS_FILE}, {METADATA_FILE})")
    metadata = json.loads((folder / METADATA_FILE).read_text())
    model = keras.models.model_from_json((folder / ARCHITECTURE_FILE).read_text())
    try:
        model.load_weights(folder / WEIGHTS_FILE)
    except (ValueError, OSError) as error:
        raise ModelFileError(f"{folder / WEIGHTS_FILE}: cannot load weights that fit {ARCHITECTURE_FILE}: {error}") from None
    outputs = model.output_shape[-1]
    if outputs != len(metadata["labels"]):
        raise ModelFileError(f"{folder}: the network has {outputs} outputs but {METADATA_FILE} lists {len(metadata['labels'])} labels")
    return model, metadata


BACKENDS = ("tensorflow", "litert")


def litert_probabilities(model, flip: bool):
    """`model` converted in memory to LiteRT (`model.export(format="litert")`, a few seconds), as a function of a
    float32 batch returning probabilities (averaged with the mirrored faces when `flip`)."""
    import tempfile

    from ai_edge_litert.interpreter import Interpreter

    with tempfile.TemporaryDirectory(prefix="facexp-litert-") as folder:
        path = Path(folder) / "model.tflite"
        model.export(str(path), format="litert", verbose=False)
        interpreter = Interpreter(model_content=path.read_bytes(), num_threads=1)
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    allocated = [None]

    def probabilities(x):
        batch = np.ascontiguousarray(np.concatenate([x, x[:, :, ::-1]]) if flip else x)
        if allocated[0] != batch.shape:
            interpreter.resize_tensor_input(input_index, batch.shape)
            interpreter.allocate_tensors()
            allocated[0] = batch.shape
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        out = interpreter.get_tensor(output_index)
        return (out[: len(x)] + out[len(x) :]) / 2.0 if flip else out

    return probabilities


class FaceClassifier:
    """A model folder, ready to classify batches of face crops (uint8 or float 0-255, shape (N, size, size, channels))."""

    def __init__(self, folder: str | Path, backend: str = "tensorflow"):
        import tensorflow as tf

        self.folder = Path(folder)
        self.model, self.metadata = load_keras_model(self.folder)
        self.labels: tuple[str, ...] = tuple(self.metadata["labels"])
        self.size: int = self.metadata["input"]["size"]
        self.channels: int = self.metadata["input"]["channels"]
        self.tta: tuple[str, ...] = tuple(self.metadata.get("tta", ()))
        self.temperature: float = float(self.metadata.get("temperature", 1.0))
        if not self.temperature > 0:
            raise ModelFileError(f"{self.folder / METADATA_FILE}: temperature must be > 0, got {self.temperature}")
        model, flip = self.model, "flip" in self.tta

        @tf.function(input_signature=[tf.TensorSpec([None, self.size, self.size, self.channels], tf.float32)])
        def probabilities(x):
            if flip:
                n = tf.shape(x)[0]
                both = model(tf.concat([x, tf.reverse(x, axis=[2])], axis=0), training=False)
                return (both[:n] + both[n:]) / 2.0
            return model(x, training=False)

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.backend = backend
        self._probabilities = probabilities if backend == "tensorflow" else litert_probabilities(model, flip)
        self._probabilities(np.zeros((1, self.size, self.size, self.channels), np.float32))  # trace once now

    def predict_proba(self, faces: np.ndarray, calibrated: bool = True) -> np.ndarray:
        """Class probabilities, shape (N, len(labels)), for a batch of preprocessed crops (see core.preprocess);
        with the metadata's temperature applied unless `calibrated=False`."""
        faces = np.asarray(faces, dtype=np.float32)
        if faces.ndim == 3:
            faces = faces[..., None]
        expected = (self.size, self.size, self.channels)
        if faces.ndim != 4 or faces.shape[1:] != expected:
            raise ValueError(f"expected faces of shape (N, {', '.join(map(str, expected))}), got {faces.shape}")
        if len(faces) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        probabilities = np.asarray(self._probabilities(faces))
        return apply_temperature(probabilities, self.temperature) if calibrated else probabilities

    def predict_labels(self, faces: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(faces).argmax(axis=1)]


class FacialExpressionModel(FaceClassifier):
    """The FER2013 expression model (seven labels of `core.labels.EMOTIONS`)."""

    def __init__(self, folder: str | Path = EMOTION_MODEL_DIR, backend: str = "tensorflow"):
        super().__init__(folder, backend)

    def predict_emotion(self, face: np.ndarray) -> str:
        """The label of one 48x48 grayscale face (the original project's API)."""
        return self.predict_labels(np.asarray(face)[None])[0]


class FaceMaskModel(FaceClassifier):
    """The with_mask / without_mask model."""

    def __init__(self, folder: str | Path = MASK_MODEL_DIR, backend: str = "tensorflow"):
        super().__init__(folder, backend)
