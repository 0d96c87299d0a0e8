"""Saving and loading the shipped models: Keras JSON architecture + weights + metadata, in one folder.

A model folder holds:
- `model.json`: the architecture (`keras.Model.to_json()`),
- `model.weights.h5`: the weights,
- `metadata.json`: task, label list (from `core.labels`), input size/channels, test-time augmentation,
- `model.tflite` + `model.tflite.json`: the same network converted to LiteRT, and what it was made from (sha256 of
  `model.json` and `model.weights.h5`, its own sha256, max |LiteRT - Keras| on real faces at write time); written by
  `write_tflite` (called by `save_model_folder`; for an existing folder `python -m export --tflite FOLDER`),
- `TRAINING.md` / `training.json`: how it was trained (written by `train.train`).

`FacialExpressionModel` and `FaceMaskModel` load such a folder and classify a batch of face crops in one call of a
compiled `tf.function` (never `model.predict` per call: it costs ~100 ms of set-up each time), or, with
`backend="litert"`, of the folder's `model.tflite` (faster on this CPU; same outputs to ~1e-7). With a `model.tflite`
that matches the weights, the LiteRT backend never imports TensorFlow or builds the Keras model (start-up ~1 s instead
of ~8 s); a missing or stale one (made from other weights) is said in the log and the network is converted in memory
instead, never used silently. Every file of the folder is checked when it is loaded (corrupt or truncated ->
`ModelFileError` naming the file), i.e. at start-up, not at the first frame.

Calibration: metadata.json may hold a `temperature` T (fitted on validation data by `train.calibrate`; absent = 1.0).
The networks end in softmax, so the calibrated probabilities are softmax(log(p) / T), applied to the probabilities
*after* test-time augmentation averaging (the averaged probabilities are what T was fitted on). `apply_temperature`
here and `applyTemperature` in web_static/js/models.js are the same computation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from core.files import save_weights_atomically, write_atomically
from core.labels import LABELS_BY_TASK
from core.preprocess import crop_metadata
from core.quiet import import_tensorflow, silenced_stderr

ARCHITECTURE_FILE = "model.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
TFLITE_FILE = "model.tflite"
TFLITE_RECORD_FILE = "model.tflite.json"
TFLITE_MAX_ABS_DIFF = 1e-4  # LiteRT vs Keras probabilities at write time (float32: ~1e-7 is typical)
TFLITE_CHECK_FACES = 256
REPO_ROOT = Path(__file__).resolve().parent.parent
EMOTION_MODEL_DIR = REPO_ROOT / "models" / "emotion"
MASK_MODEL_DIR = REPO_ROOT / "models" / "mask"


log = logging.getLogger("facexp.models")


class ModelFileError(RuntimeError):
    """A model folder that is missing a file or whose files do not fit together."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json_file(path: Path) -> dict:
    """A JSON object from a model file, or ModelFileError naming the file (corrupt, truncated, empty)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: missing")
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ModelFileError(f"{path}: corrupt or truncated ({type(error).__name__}: {error})") from None
    if not isinstance(value, dict):
        raise ModelFileError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


def read_metadata(folder: Path) -> dict:
    folder = Path(folder)
    metadata = read_json_file(folder / METADATA_FILE)
    try:
        labels, size, channels = metadata["labels"], int(metadata["input"]["size"]), int(metadata["input"]["channels"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{folder / METADATA_FILE}: missing or bad field {error} (expected labels, input.size, input.channels)") from None
    if not isinstance(labels, list) or not labels or size < 1 or channels not in (1, 3):
        raise ModelFileError(f"{folder / METADATA_FILE}: expected a label list, input.size >= 1 and input.channels 1 or 3")
    return metadata


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


def save_model_folder(model, folder: Path, metadata: dict, check_faces=None) -> None:
    """Write architecture JSON, weights, metadata and the LiteRT `model.tflite` into `folder` (each file atomically).
    `check_faces` (float32 0-255, real faces) check the LiteRT conversion against Keras; see `write_tflite`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    import_tensorflow()
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
    write_tflite(folder, check_faces, model=weights_only)


def convert_to_tflite(model) -> bytes:
    """`model.export(format="litert")` into a temporary folder; the .tflite bytes."""
    with tempfile.TemporaryDirectory(prefix="facexp-litert-") as tmp:
        path = Path(tmp) / TFLITE_FILE
        with silenced_stderr():
            model.export(str(path), format="litert", verbose=False)
        return path.read_bytes()


def _keras_reference(model, faces: np.ndarray, flip: bool) -> np.ndarray:
    out = np.concatenate([model(faces[i:i + 256], training=False).numpy() for i in range(0, len(faces), 256)])
    if flip:
        mirrored = np.ascontiguousarray(faces[:, :, ::-1])
        out = (out + np.concatenate([model(mirrored[i:i + 256], training=False).numpy() for i in range(0, len(faces), 256)])) / 2
    return out


def write_tflite(folder: Path, faces=None, model=None, log=log.info) -> dict:
    """Convert the folder's network to LiteRT, check it against Keras on `faces` (real faces, float32 0-255; without
    them, 64 random images, said in the record), and write `model.tflite` + `model.tflite.json` atomically (the
    record last: a folder is never left with a record that vouches for another tflite). Fails (ModelFileError, nothing
    written) if LiteRT differs from Keras by more than TFLITE_MAX_ABS_DIFF. Returns the record."""
    folder = Path(folder)
    if model is None:
        model, metadata = load_keras_model(folder)
    else:
        metadata = read_metadata(folder)
    size, channels = metadata["input"]["size"], metadata["input"]["channels"]
    if faces is None or len(faces) == 0:
        faces = np.random.default_rng(0).integers(0, 256, (64, size, size, channels)).astype(np.float32)
        source = "64 random images (no real faces given)"
    else:
        faces = np.asarray(faces, np.float32)
        if faces.ndim == 3:
            faces = faces[..., None]
        faces = faces[np.linspace(0, len(faces) - 1, min(len(faces), TFLITE_CHECK_FACES)).round().astype(int)]
        source = f"{len(faces)} real faces"
    content = convert_to_tflite(model)
    reference = _keras_reference(model, faces, flip=False)
    lite = _interpreter_probabilities(_interpreter(content, folder / TFLITE_FILE))
    got = np.concatenate([lite(faces[i:i + 64]) for i in range(0, len(faces), 64)])
    max_diff = float(np.abs(got - reference).max())
    if not max_diff <= TFLITE_MAX_ABS_DIFF:
        raise ModelFileError(f"{folder / TFLITE_FILE}: LiteRT differs from Keras by up to {max_diff:.3g} on {source} "
                             f"(> {TFLITE_MAX_ABS_DIFF:g}); not written")
    record = {
        "made_from": {ARCHITECTURE_FILE: sha256_file(folder / ARCHITECTURE_FILE), WEIGHTS_FILE: sha256_file(folder / WEIGHTS_FILE)},
        TFLITE_FILE: {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)},
        "check": {"faces": source, "max_abs_diff_vs_keras": float(f"{max_diff:.3g}"), "top1_agreement":
                  float((got.argmax(1) == reference.argmax(1)).mean())},
    }
    write_atomically(folder / TFLITE_FILE, content)
    write_atomically(folder / TFLITE_RECORD_FILE, json.dumps(record, indent=2) + "\n")
    log(f"{folder / TFLITE_FILE}: {len(content):,} bytes, max |LiteRT - Keras| = {max_diff:.2e} on {source}")
    return record


def check_folder_files(folder: Path) -> dict:
    """Every file a model folder needs is there and readable (without TensorFlow). Returns the metadata."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such model folder" if not folder.exists() else f"{folder}: not a folder")
    for name in (ARCHITECTURE_FILE, WEIGHTS_FILE, METADATA_FILE):
        if not (folder / name).is_file():
            raise ModelFileError(f"{folder}: missing {name} (expected {ARCHITECTURE_FILE}, {WEIGHTS_FILE}, {METADATA_FILE})")
    metadata = read_metadata(folder)
    read_json_file(folder / ARCHITECTURE_FILE)
    with open(folder / WEIGHTS_FILE, "rb") as handle:
        if handle.read(8) != b"\x89HDF\r\n\x1a\n":
            raise ModelFileError(f"{folder / WEIGHTS_FILE}: not an HDF5 weights file (corrupt or truncated)")
    return metadata


def matching_tflite(folder: Path) -> bytes | None:
    """The folder's `model.tflite` if its record says it was made from the folder's current model.json and weights
    (None, said in the log, if it is missing or stale). A tflite whose bytes are not the recorded ones (corrupt,
    truncated) -> ModelFileError naming it."""
    folder = Path(folder)
    tflite, record_path = folder / TFLITE_FILE, folder / TFLITE_RECORD_FILE
    if not tflite.is_file() or not record_path.is_file():
        log.warning("%s: no %s (+ %s); converting in memory (slower start; write it with: python -m export --tflite %s)",
                    folder, TFLITE_FILE, TFLITE_RECORD_FILE, folder)
        return None
    record = read_json_file(record_path)
    try:
        made_from, expected = record["made_from"], record[TFLITE_FILE]
        expected_sha, expected_bytes = expected["sha256"], int(expected["bytes"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{record_path}: missing or bad field {error} (expected made_from, {TFLITE_FILE}.sha256/bytes)") from None
    for name in (ARCHITECTURE_FILE, WEIGHTS_FILE):
        if made_from.get(name) != sha256_file(folder / name):
            log.warning("%s was made from another %s (stale): not used; converting in memory "
                        "(rewrite it with: python -m export --tflite %s)", tflite, name, folder)
            return None
    content = tflite.read_bytes()
    if len(content) != expected_bytes or hashlib.sha256(content).hexdigest() != expected_sha:
        raise ModelFileError(f"{tflite}: corrupt or truncated ({len(content):,} bytes, sha256 differs from "
                             f"{TFLITE_RECORD_FILE}: expected {expected_bytes:,} bytes); rewrite it with: python -m export --tflite {folder}")
    return content


def _interpreter(content: bytes, name: Path):
    from ai_edge_litert.interpreter import Interpreter

    try:
        with silenced_stderr():
            return Interpreter(model_content=content, num_threads=1)
    except (ValueError, RuntimeError) as error:
        raise ModelFileError(f"{name}: not a LiteRT model ({error})") from None


def load_keras_model(folder: Path):
    """Rebuild the Keras model from `model.json` and load `model.weights.h5`. Returns (model, metadata)."""
    import_tensorflow()
    import keras

    folder = Path(folder)
    metadata = check_folder_files(folder)
    try:
        model = keras.models.model_from_json((folder / ARCHITECTURE_FILE).read_text())
    except Exception as error:  # Keras raises many kinds for a JSON that is not a model
        raise ModelFileError(f"{folder / ARCHITECTURE_FILE}: not a Keras model architecture ({type(error).__name__}: {error})") from None
    try:
        model.load_weights(folder / WEIGHTS_FILE)
    except (ValueError, OSError) as error:
        raise ModelFileError(f"{folder / WEIGHTS_FILE}: cannot load weights that fit {ARCHITECTURE_FILE}: {error}") from None
    outputs = model.output_shape[-1]
    if outputs != len(metadata["labels"]):
        raise ModelFileError(f"{folder}: the network has {outputs} outputs but {METADATA_FILE} lists {len(metadata['labels'])} labels")
    return model, metadata


BACKENDS = ("tensorflow", "litert")


def litert_probabilities(model):
    """`model` converted in memory to LiteRT (`model.export(format="litert")`, a few seconds), as a function of a
    float32 batch returning its probabilities."""
    content = convert_to_tflite(model)
    return _interpreter_probabilities(_interpreter(content, Path(TFLITE_FILE)),
                                      lambda: _interpreter(content, Path(TFLITE_FILE)))


BATCH_SHAPES_KEPT = 6  # interpreters kept per model, one per batch shape (faces x views); see _interpreter_probabilities


def _interpreter_probabilities(interpreter, make_interpreter=None):
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
        if not self.temperature > 0:
            raise ModelFileError(f"{self.folder / METADATA_FILE}: temperature must be > 0, got {self.temperature}")
        self.backend = backend
        self._model = None
        content = matching_tflite(self.folder) if backend == "litert" else None
        if content is not None:
            interpreter = _interpreter(content, self.folder / TFLITE_FILE)
            details_in, details_out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
            if tuple(details_in["shape"][1:]) != (self.size, self.size, self.channels) or details_out["shape"][-1] != len(self.labels):
                raise ModelFileError(f"{self.folder / TFLITE_FILE}: takes {tuple(details_in['shape'][1:])} and gives "
                                     f"{details_out['shape'][-1]} outputs, but {METADATA_FILE} says "
                                     f"({self.size}, {self.size}, {self.channels}) and {len(self.labels)} labels")
            self._probabilities = _interpreter_probabilities(
                interpreter, lambda: _interpreter(content, self.folder / TFLITE_FILE))
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
