"""The Image tab's examples: photos from scikit-image's public-domain data, written once into the app's temp folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def example_images(folder: Path) -> list[str]:
    """Example photos from scikit-image's public-domain data (never copied from the data folder), showing more than one
    expression: the astronaut (smiling), the cameraman (grey, not smiling) and the astronaut twice (two faces)."""
    import cv2
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    astronaut = data.astronaut()
    examples = {
        "astronaut.png": astronaut,
        "cameraman.png": data.camera(),
        "astronaut_pair.png": np.concatenate([astronaut, astronaut[:, ::-1]], axis=1),
    }
    paths = []
    for name, image in examples.items():
        path = folder / name
        if not path.exists():
            bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(path), bgr)
        paths.append(str(path))
    return paths
