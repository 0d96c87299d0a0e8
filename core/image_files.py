"""Reading an image file into an array as it is stored, for the CLI and the Gradio app alike.

`read_image(path)`: the header is checked first (`core.input_limits.check_image_header`: nothing is decoded for a
file that is too large, too small or not an image), then OpenCV decodes it unchanged: 16-bit and float images keep
their depth (PIL's conversion to 8-bit RGB clips a 16-bit grey PNG to white and a float TIFF to black, losing every
face), RGBA keeps its alpha; `core.pipeline.to_rgb_frame` then scales any of them to RGB uint8. The EXIF orientation
is applied (a phone photo stored sideways comes out upright), as Gradio's own image reading did. Files OpenCV cannot
decode are read by PIL, converted to RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.input_limits import NOT_AN_IMAGE, check_image_header
from core.pipeline import InputError

EXIF_ORIENTATION = 0x0112
# EXIF orientation -> how to turn the stored pixels upright (as PIL.ImageOps.exif_transpose does)
ORIENTATIONS = {
    2: lambda image: image[:, ::-1],
    3: lambda image: image[::-1, ::-1],
    4: lambda image: image[::-1],
    5: lambda image: image.swapaxes(0, 1),
    6: lambda image: np.rot90(image, -1),
    7: lambda image: image.swapaxes(0, 1)[::-1, ::-1],
    8: lambda image: np.rot90(image, 1),
}


def exif_orientation(path: Path) -> int:
    """The EXIF orientation tag (1 = as stored) from the file's header."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return int(image.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # no EXIF, or EXIF PIL cannot parse: take the pixels as stored
        return 1


def read_image(path) -> np.ndarray:
    """An image file as an array (RGB, RGBA or grey; uint8, uint16 or float as stored), upright, or `InputError`
    saying why not (its text names no server path: callers prefix the name they know the file by)."""
    import cv2

    path = Path(path)
    check_image_header(path)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        try:
            from PIL import Image

            with Image.open(path) as pil_image:
                image = np.asarray(pil_image.convert("RGB"))
        except Exception:
            raise InputError(NOT_AN_IMAGE) from None
    elif image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    turn = ORIENTATIONS.get(exif_orientation(path))
    return np.ascontiguousarray(turn(image)) if turn else image
