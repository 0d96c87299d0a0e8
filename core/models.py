"""The classifier that serves a model folder (`core.model_folder`): a batch of face crops in, probabilities out.

`FacialExpressionModel` and `FaceMaskModel` load a folder and classify a batch of face crops in one call of a
compiled `tf.function` (never `model.predict` per call: it costs ~100 ms of set-up each time), or, with
`backend="litert"`, of the folder's `model.tflite` (faster on this CPU; same outputs to ~1e-7). With a `model.tflite`
that matches the weights, the LiteRT backend never imports TensorFlow or builds the Keras model (start-up ~1 s instead
of ~8 s); a missing or stale one (made from other weights) is said in the log and the network is converted in memory
instead, never used silently. Every file of the folder is checked when it is loaded (corrupt or truncated ->
`ModelFileError` naming the file), i.e. at start-up, not at the first frame. Writing a folder's `model.tflite` (the
conversion checked against Keras, and its record) is `export.litert`.

Calibration: metadata.json may hold a `temperature` T (fitted on validation data by `train.calibrate`; absent = 1.0).
The networks end in softmax, so the calibrated probabilities are softmax(log(p) / T), applied to the probabilities
*after* test-time augmentation averaging (the averaged probabilities are what T was fitted on). `apply_temperature`
here and `applyTemperature` in web_static/js/models.js are the same computation.

The folder-format names (`EMOTION_MODEL_DIR`, `load_keras_model`, `ModelFileError`, file names, ...) are defined in
`core.model_folder`.
"""

from __future__ import annotations

import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from core.model_folder import (
    ARCHITECTURE_FILE,  # noqa: F401  (tests that corrupt a folder name it from here)
    EMOTION_MODEL_DIR,
    MASK_MODEL_DIR,
    METADATA_FILE,
    TFLITE_FILE,
    ModelFileError,
    check_folder_files,
    load_keras_model,
    matching_tflite,
)
from core.quiet import import_tensorflow, silenced_stderr

PROBABILITY_FLOOR = 1e-12  # log(0) guard; the page reads it from web_static/models/index.json


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T) per row: T > 1 softens over-confident probabilities, T < 1 sharpens; T = 1 changes nothing."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if temperature == 1.0 or probabilities.size == 0:
        return probabilities
    logits = np.log(np.maximum(probabilities.astype(np.float64), PROBABILITY_FLOOR)) / float(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def convert_to_tflite(model) -> bytes:
    """`model.export(format="litert")` into a temporary folder; the .tflite bytes."""
    with tempfile.TemporaryDirectory(prefix="facexp-litert-") as tmp:
        path = Path(tmp) / TFLITE_FILE
        with silenced_stderr():
            model.export(str(path), format="litert", verbose=False)
        return path.read_bytes()


def litert_interpreter(content: bytes, name: Path):
    """A LiteRT interpreter of a .tflite's bytes (one thread), or ModelFileError naming `name`."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        with silenced_stderr():
            return Interpreter(model_content=content, num_threads=1)
    except (ValueError, RuntimeError) as error:
        raise ModelFileError(f"{name}: not a LiteRT model ({error})") from None


BACKENDS = ("tensorflow", "litert")


def litert_probabilities(model):
    """`model` converted in memory to LiteRT (`model.export(format="litert")`, a few seconds), as a function of a
    float32 batch returning its probabilities."""
    content = convert_to_tflite(model)
    return interpreter_probabilities(litert_interpreter(content, Path(TFLITE_FILE)),
                                     lambda: litert_interpreter(content, Path(TFLITE_FILE)))


BATCH_SHAPES_KEPT = 6  # interpreters kept per model, one per batch shape (faces x views); see interpreter_probabilities


def interpreter_probabilities(interpreter, make_interpreter=None):
    """A function of a float32 batch returning its probabilities, with one LiteRT interpreter per batch shape.

    The number of faces changes from frame to frame, and resizing an interpreter's input re-plans all its tensors
    (about 0.4 ms of CPU and 1 ms of wall time for the expression network, more than classifying a face): each shape
    keeps its own interpreter, the BATCH_SHAPES_KEPT most recently used ones; the least recently used is resized for a
    new shape. `make_interpreter()` builds another one from the same model (without it, `interpreter` is resized).
    """
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    by_shape: OrderedDict = OrderedDict()
    spare = [interpreter]

    def ready(shape):
        found = by_shape.get(shape)
        if found is not None:
            by_shape.move_to_end(shape)
            return found
        if spare:
            found = spare.pop()
        elif make_interpreter is not None and len(by_shape) < BATCH_SHAPES_KEPT:
            found = make_interpreter()
        else:
            found = by_shape.popitem(last=False)[1]
        found.resize_tensor_input(input_index, shape)
        found.allocate_tensors()
        by_shape[shape] = found
        return found

    def probabilities(batch):
        batch = np.ascontiguousarray(batch)
        interpreter = ready(batch.shape)
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)  # a copy (interpreter.tensor() would be a view)

    return probabilities


TTA_VIEWS = ("original", "mirrored")  # the views flip TTA averages; predict_proba(view=...) runs one of them


class FaceClassifier:
    """A model folder, ready to classify batches of face crops (uint8 or float 0-255, shape (N, size, size, channels))."""

    def __init__(self, folder: str | Path, backend: str = "tensorflow"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.folder = Path(folder)
        self.metadata = check_folder_files(self.folder)
        self.labels: tuple[str, ...] = tuple(self.metadata["labels"])
        self.size: int = self.metadata["input"]["size"]
        self.channels: int = self.metadata["input"]["channels"]
        self.tta: tuple[str, ...] = tuple(self.metadata.get("tta", ()))
        self.temperature: float = float(self.metadata.get("temperature", 1.0))
        # trained on faces turned so that the eyes are level: the crops it is fed must be turned alike (core.preprocess)
        self.levels_eyes: bool = bool(self.metadata.get("crop", {}).get("level_eyes", False))
        if not self.temperature > 0:
            raise ModelFileError(f"{self.folder / METADATA_FILE}: temperature must be > 0, got {self.temperature}")
        self.backend = backend
        self._model = None
        content = matching_tflite(self.folder) if backend == "litert" else None
        if content is not None:
            interpreter = litert_interpreter(content, self.folder / TFLITE_FILE)
            details_in, details_out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
            if tuple(details_in["shape"][1:]) != (self.size, self.size, self.channels) or details_out["shape"][-1] != len(self.labels):
                raise ModelFileError(f"{self.folder / TFLITE_FILE}: takes {tuple(details_in['shape'][1:])} and gives "
                                     f"{details_out['shape'][-1]} outputs, but {METADATA_FILE} says "
                                     f"({self.size}, {self.size}, {self.channels}) and {len(self.labels)} labels")
            self._probabilities = interpreter_probabilities(
                interpreter, lambda: litert_interpreter(content, self.folder / TFLITE_FILE))
            self.tflite_source = "file"
        elif backend == "litert":
            self._probabilities = litert_probabilities(self.model)
            self.tflite_source = "converted in memory"
        else:
            self._probabilities = self._tf_function()
            self.tflite_source = None
        with silenced_stderr():  # LiteRT creates its XNNPACK delegate (and says so) on the first call
            self._probabilities(np.zeros((1, self.size, self.size, self.channels), np.float32))  # trace once now

    @property
    def model(self):
        """The Keras model (built on first use: the LiteRT backend with a matching model.tflite never needs it)."""
        if self._model is None:
            self._model, _ = load_keras_model(self.folder)
        return self._model

    def _tf_function(self):
        tf = import_tensorflow()
        model = self.model

        @tf.function(input_signature=[tf.TensorSpec([None, self.size, self.size, self.channels], tf.float32)])
        def probabilities(x):
            return model(x, training=False)

        return lambda batch: probabilities(batch).numpy()

    @property
    def flip_tta(self) -> bool:
        """Whether the model's metadata asks for flip TTA (the mean of the face and its mirror image)."""
        return "flip" in self.tta

    def predict_proba(self, faces: np.ndarray, calibrated: bool = True, view: str | None = None) -> np.ndarray:
        """Class probabilities, shape (N, len(labels)), for a batch of preprocessed crops (see core.preprocess);
        with the metadata's temperature applied unless `calibrated=False`.

        `view=None`: the metadata's TTA (with flip: the mean over the faces and their mirror images, one call on a
        batch of 2N). `view="original"` or `"mirrored"`: that one view only, half the work; the pipeline alternates
        them from frame to frame where a tracker averages each face's probabilities over frames anyway."""
        faces = np.asarray(faces, dtype=np.float32)
        if faces.ndim == 3:
            faces = faces[..., None]
        expected = (self.size, self.size, self.channels)
        if faces.ndim != 4 or faces.shape[1:] != expected:
            raise ValueError(f"expected faces of shape (N, {', '.join(map(str, expected))}), got {faces.shape}")
        if view not in (None, *TTA_VIEWS):
            raise ValueError(f"view must be None or one of {TTA_VIEWS}, got {view!r}")
        if len(faces) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        mirrored = faces[:, :, ::-1]
        if view == "original":
            probabilities = self._probabilities(faces)
        elif view == "mirrored":
            probabilities = self._probabilities(mirrored)
        elif self.flip_tta:
            both = self._probabilities(np.concatenate([faces, mirrored]))
            probabilities = (both[: len(faces)] + both[len(faces) :]) / 2.0
        else:
            probabilities = self._probabilities(faces)
        probabilities = np.asarray(probabilities)
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
