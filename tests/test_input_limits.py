"""core.input_limits on real files: a small file that would decode huge is refused from its header, quickly and
without decoding; ordinary photos and the media clip pass with their true sizes."""

import resource
import time
from fractions import Fraction

import cv2
import numpy as np
import pytest

from core.input_limits import MAX_VIDEO_SECONDS, check_image_header, check_video_header
from core.pipeline import InputError
from core.video import VideoError
from tests.harness import huge_png, synthetic_video


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_20000x20000_png_is_refused_from_its_header(tmp_path):
    path = huge_png(tmp_path / "huge.png", 20000, 20000)
    assert path.stat().st_size < 2_000_000
    before = peak_rss_mb()
    with pytest.raises(InputError, match="megapixels are accepted") as error:
        check_image_header(path)
    assert peak_rss_mb() - before < 100  # decoded, it would be 1.2 GB
    assert str(tmp_path) not in str(error.value)


def test_an_image_over_the_pixel_limit_but_under_pil_s_own_is_refused_with_its_size(tmp_path):
    with pytest.raises(InputError, match="12000x10000 pixels; at most 100 megapixels"):
        check_image_header(huge_png(tmp_path / "120mp.png", 12000, 10000))


def test_photos_pass_with_their_size(media_dir, tmp_path):
    assert check_image_header(media_dir / "obama.jpg") == tuple(cv2.imread(str(media_dir / "obama.jpg")).shape[1::-1])
    cv2.imwrite(str(tmp_path / "grey16.png"), np.full((300, 200), 40000, np.uint16))
    assert check_image_header(tmp_path / "grey16.png") == (200, 300)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"), (b"not an image at all", "not a readable image"), (b"\x89PNG\r\n\x1a\n" + bytes(40), "not a readable image")])
def test_what_is_not_an_image_is_named(tmp_path, content, message):
    (tmp_path / "x.png").write_bytes(content)
    with pytest.raises(InputError, match=message):
        check_image_header(tmp_path / "x.png")


def test_a_tiny_image_is_refused(tmp_path):
    cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(InputError, match="1x1 pixels"):
        check_image_header(tmp_path / "tiny.png")


def test_an_8k_video_is_refused_from_its_header_in_well_under_a_second(tmp_path):
    path = synthetic_video(tmp_path / "8k.mp4", 7680, 4320, 3)
    before, start = peak_rss_mb(), time.perf_counter()
    with pytest.raises(VideoError, match="7680x4320 frames; at most 4096x2160"):
        check_video_header(path)
    assert peak_rss_mb() - before < 200  # decoding its frames would cost 100 MB each (more with the decoder's)
    assert time.perf_counter() - start < 5  # generous: the bench measures it (bench/hostile_limits.py)


def test_the_media_clip_passes_with_its_header(media_dir):
    header = check_video_header(media_dir / "short_hamilton_clip.mp4")
    assert (header.width, header.height, header.frames) == (640, 360, 275)
    assert 29 < header.fps < 31 and 9.9 < header.seconds < 10.1


def test_a_video_longer_than_the_limit_is_refused(tmp_path):
    """A 2-frame video whose header says 1 frame per MAX_VIDEO_SECONDS: it claims to last twice the limit."""
    import av

    path = tmp_path / "long.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.time_base = Fraction(MAX_VIDEO_SECONDS, 1)
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, stream.codec_context.time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(VideoError, match="at most 4 h are accepted"):
        check_video_header(path)


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"\x00\x00\x00\x18ftypmp42" + bytes(2000), "cannot be opened")])
def test_what_is_not_a_video_is_named(tmp_path, content, message):
    (tmp_path / "x.mp4").write_bytes(content)
    with pytest.raises(VideoError, match=message):
        check_video_header(tmp_path / "x.mp4")
