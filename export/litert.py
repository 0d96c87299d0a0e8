"""A model folder's `model.tflite`: the network converted to LiteRT, checked against Keras, and recorded.

`write_tflite` is called by training after `core.model_folder.save_model_folder`, and by
`python -m export --tflite FOLDER` for an existing folder. The record `model.tflite.json` says what the tflite was
made from (sha256 of `model.json` and `model.weights.h5`), its own sha256 and size, and how far it was from Keras on
real faces at write time; `core.model_folder.matching_tflite` reads it back when a folder is served.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from core.files import write_atomically
from core.model_folder import (
    ARCHITECTURE_FILE,
    TFLITE_FILE,
    TFLITE_RECORD_FILE,
    WEIGHTS_FILE,
    ModelFileError,
    load_keras_model,
    read_metadata,
    sha256_file,
)
from core.models import convert_to_tflite, interpreter_probabilities, litert_interpreter

TFLITE_MAX_ABS_DIFF = 1e-4  # LiteRT vs Keras probabilities at write time (float32: ~1e-7 is typical)
TFLITE_CHECK_FACES = 256
RANDOM_CHECK_IMAGES = 64  # checked on when no real faces are given (said in the record)
KERAS_BATCH = 256
LITERT_BATCH = 64

log = logging.getLogger("facexp.models")


def keras_probabilities(model, faces: np.ndarray) -> np.ndarray:
    return np.concatenate([model(faces[i:i + KERAS_BATCH], training=False).numpy()
                           for i in range(0, len(faces), KERAS_BATCH)])


def write_tflite(folder: Path, faces=None, model=None, log=log.info) -> dict:
    """Convert the folder's network to LiteRT, check it against Keras on `faces` (real faces, float32 0-255; without
    them, RANDOM_CHECK_IMAGES random images, said in the record), and write `model.tflite` + `model.tflite.json`
    atomically (the record last: a folder is never left with a record that vouches for another tflite). Fails
    (ModelFileError, nothing written) if LiteRT differs from Keras by more than TFLITE_MAX_ABS_DIFF. Returns the
    record."""
    folder = Path(folder)
    if model is None:
        model, metadata = load_keras_model(folder)
    else:
        metadata = read_metadata(folder)
    size, channels = metadata["input"]["size"], metadata["input"]["channels"]
    if faces is None or len(faces) == 0:
        faces = np.random.default_rng(0).integers(0, 256, (RANDOM_CHECK_IMAGES, size, size, channels)).astype(np.float32)
        source = f"{RANDOM_CHECK_IMAGES} random images (no real faces given)"
    else:
        faces = np.asarray(faces, np.float32)
        if faces.ndim == 3:
            faces = faces[..., None]
        faces = faces[np.linspace(0, len(faces) - 1, min(len(faces), TFLITE_CHECK_FACES)).round().astype(int)]
        source = f"{len(faces)} real faces"
    content = convert_to_tflite(model)
    reference = keras_probabilities(model, faces)
    lite = interpreter_probabilities(litert_interpreter(content, folder / TFLITE_FILE))
    got = np.concatenate([lite(faces[i:i + LITERT_BATCH]) for i in range(0, len(faces), LITERT_BATCH)])
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
