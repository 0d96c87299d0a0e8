"""A model folder on disk: Keras JSON architecture + weights + metadata, read and written.

A model folder holds:
- `model.json`: the architecture (`keras.Model.to_json()`),
- `model.weights.h5`: the weights,
- `metadata.json`: task, label list (from `core.labels`), input size/channels, test-time augmentation, crop, and
  the calibration `temperature` (fitted by `train.calibrate`; absent = 1.0),
- `model.tflite` + `model.tflite.json`: the same network converted to LiteRT, and what it was made from (sha256 of
  `model.json` and `model.weights.h5`, its own sha256, max |LiteRT - Keras| on real faces at write time); written by
  `export.litert.write_tflite` (training calls it after `save_model_folder`; for an existing folder
  `python -m export --tflite FOLDER`),
- `TRAINING.md` / `training.json`: how it was trained (written by `train.train`).

Every file is checked when it is read (corrupt or truncated -> `ModelFileError` naming the file). The classifier
that serves a folder is `core.models`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from core.files import save_weights_atomically, write_atomically
from core.labels import LABELS_BY_TASK
from core.preprocess import crop_metadata
from core.quiet import import_tensorflow

ARCHITECTURE_FILE = "model.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
TFLITE_FILE = "model.tflite"
TFLITE_RECORD_FILE = "model.tflite.json"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
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


def make_metadata(task: str, input_shape, tta: list[str], level_eyes: bool = False) -> dict:
    size, _, channels = input_shape
    return {
        "task": task,
        "labels": list(LABELS_BY_TASK[task]),
        "input": {"size": int(size), "channels": int(channels), "pixels": "0-255, float32; the network rescales"},
        "tta": list(tta),
        "crop": crop_metadata(level_eyes),
    }


def save_model_folder(model, folder: Path, metadata: dict):
    """Write the architecture JSON, the weights and the metadata into `folder` (each file atomically). Returns the
    saved network rebuilt from that JSON with those weights (what `export.litert.write_tflite` converts)."""
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
    return weights_only


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
        if handle.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
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
