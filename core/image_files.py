"""Reading an image file into an array as it is stored, for the CLI and the Gradio app alike.

`read_image(path or bytes)`: the header is checked first (`core.input_limits.check_image_header`: nothing is decoded for a
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


def exif_orientation(source) -> int:
    """The EXIF orientation tag (1 = as stored) from the header of an image file (a path, or its bytes)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            return int(image.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # no EXIF, or EXIF PIL cannot parse: take the pixels as stored
        return 1


def read_image(source) -> np.ndarray:
    """An image file (a path, or its bytes: a streamed frame) as an array (RGB, RGBA or grey; uint8, uint16 or float
    as stored), upright, or `InputError` saying why not (its text names no server path: callers prefix the name they
    know the file by)."""
    import io

    import cv2

    source = bytes(source) if isinstance(source, (bytearray, memoryview)) else source
    source = source if isinstance(source, bytes) else Path(source)
    check_image_header(source)
    if isinstance(source, bytes):
        image = cv2.imdecode(np.frombuffer(source, np.uint8), cv2.IMREAD_UNCHANGED)
    else:
        image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    if image is None:
        try:
            from PIL import Image

            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as pil_image:
                image = np.asarray(pil_image.convert("RGB"))
        except Exception:
            raise InputError(NOT_AN_IMAGE) from None
    elif image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    turn = ORIENTATIONS.get(exif_orientation(source))
    return np.ascontiguousarray(turn(image)) if turn else image
