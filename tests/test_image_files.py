"""core.image_files.read_image (the CLI's and the Gradio app's image reader) on real files: depth kept for 16-bit
and float images (so faces survive the conversion to 8 bits), the EXIF orientation applied as PIL applies it, and the
header checked before decoding."""

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from core.image_files import read_image
from core.pipeline import InputError, to_rgb_frame
from tests.harness import huge_png, read_rgb


@pytest.fixture
def grey(media_dir):
    return cv2.cvtColor(read_rgb(media_dir / "happy.jpg"), cv2.COLOR_RGB2GRAY)


def test_a_16_bit_grey_png_keeps_its_depth_and_its_face(grey, tmp_path):
    cv2.imwrite(str(tmp_path / "grey16.png"), grey.astype(np.uint16) * 257)
    image = read_image(tmp_path / "grey16.png")
    assert image.dtype == np.uint16 and image.shape == grey.shape
    assert np.array_equal(to_rgb_frame(image)[..., 0], grey)  # PIL's convert("RGB") gives all 255 here


def test_a_float32_tiff_keeps_its_values(grey, tmp_path):
    cv2.imwrite(str(tmp_path / "grey.tiff"), grey.astype(np.float32) / 255)
    image = read_image(tmp_path / "grey.tiff")
    assert image.dtype == np.float32
    assert np.abs(to_rgb_frame(image)[..., 0].astype(int) - grey).max() <= 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_exif_orientation_is_applied_as_pil_applies_it(media_dir, tmp_path, orientation):
    photo = Image.fromarray(read_rgb(media_dir / "obama.jpg")[:300, :200])
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"turned{orientation}.png"
    photo.save(path, exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert np.array_equal(read_image(path), expected)


def test_the_header_is_checked_before_decoding(tmp_path):
    with pytest.raises(InputError, match="megapixels are accepted"):
        read_image(huge_png(tmp_path / "huge.png", 12000, 10000))
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match="not a readable image") as error:
        read_image(tmp_path / "notes.png")
    assert str(tmp_path) not in str(error.value)


def test_bytes_are_read_as_the_file_is(media_dir, tmp_path):
    """The image stream's frames arrive as bytes (data: URLs): the same reader, the same checks."""
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), cv2.imread(str(media_dir / "obama.jpg")))
    assert np.array_equal(read_image(path.read_bytes()), read_image(path))
    with pytest.raises(InputError, match="megapixels are accepted"):
        read_image(huge_png(tmp_path / "huge.png", 12000, 10000).read_bytes())
    with pytest.raises(InputError, match="empty"):
        read_image(b"")
