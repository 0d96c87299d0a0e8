"""core.video.VideoWriter, the annotated videos of the Video tab and of `predict --out`: H.264 in MP4 that
browsers play while it loads (the index first), at display size (at most OUTPUT_MAX_WIDTH wide), every frame there,
written under a temporary name and renamed when complete; a write that fails (a file-size limit, as on a full disk)
raises an OSError naming the file from write() itself, not only at the end, and leaves nothing. Frames are real media
photos; each video is read back with PyAV (the frames, size, codec and timing) and OpenCV (the reader of the apps).
(The CLI's own runs, full disk included, are in test_hostile_cli.py; the Gradio tab's, played in Chromium, in
test_gradio_app.py.)
"""

import errno
import json
import re
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from core.video import OUTPUT_MAX_WIDTH, VideoWriter, display_size, read_frames
from tests.harness import REPO, read_rgb
from tests.test_hostile_cli import limit_file_size

FPS = 25.0


def panned_frames(photo, width: int, height: int, count: int) -> list[np.ndarray]:
    """`count` frames of width x height from a photo, panned a few pixels each (so every frame differs)."""
    image = cv2.resize(read_rgb(photo), (width + 4 * count, height), interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(image[:, 4 * i:4 * i + width]) for i in range(count)]


def probe(path) -> dict:
    """What PyAV reads back: codec, pixel format, size, decoded frames, duration, and where the index is."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        info = {"codec": stream.codec_context.name, "pix_fmt": stream.codec_context.pix_fmt,
                "size": (stream.width, stream.height), "frames": frames, "seconds": container.duration / 1e6,
                "format": container.format.name}
    data = path.read_bytes()
    info["index_first"] = 0 < data.find(b"moov") < data.find(b"mdat")
    return info


def test_display_size_keeps_the_aspect_ratio_within_the_width_and_even_sides():
    assert display_size(1920, 1080) == (1280, 720)
    assert display_size(3840, 2160) == (1280, 720)
    assert display_size(1280, 720) == (1280, 720)
    assert display_size(641, 361) == (640, 360)
    assert display_size(1080, 1920) == (1080, 1920)  # portrait: the width is what counts
    assert display_size(2000, 999) == (OUTPUT_MAX_WIDTH, 638)


def test_a_1080p_video_is_written_as_h264_mp4_at_display_size(media_dir, tmp_path):
    frames = panned_frames(media_dir / "bbt1.jpg", 1920, 1080, 30)
    with VideoWriter(tmp_path / "clip", FPS) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.path == tmp_path / "clip.mp4" and writer.size == (1280, 720)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # renamed; no partial-* left
    info = probe(writer.path)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and "mp4" in info["format"]
    assert info["size"] == (1280, 720) and len(info["frames"]) == 30
    assert info["seconds"] == pytest.approx(30 / FPS, abs=0.05)
    assert info["index_first"]  # +faststart: a browser plays it while it loads
    for index in (0, 17, 29):  # each frame is its own picture, scaled down, in order
        expected = cv2.resize(frames[index], (1280, 720), interpolation=cv2.INTER_AREA).astype(int)
        assert np.abs(info["frames"][index] - expected).mean() < 6, index
        assert np.abs(info["frames"][index] - cv2.resize(frames[index - 5], (1280, 720)).astype(int)).mean() > 6
    decoded = [frame for _, frame in read_frames(writer.path)]  # the apps' reader too
    assert len(decoded) == 30 and decoded[0].shape == (720, 1280, 3)


def test_a_small_video_keeps_its_size_an_odd_side_cut_by_one_pixel(media_dir, tmp_path):
    frames = panned_frames(media_dir / "two_people.jpg", 161, 121, 9)
    with VideoWriter(tmp_path / "small.mp4", 29.97) as writer:
        for frame in frames:
            writer.write(frame)
    info = probe(writer.path)
    assert info["size"] == (160, 120) and len(info["frames"]) == 9
    assert info["seconds"] == pytest.approx(9 / 29.97, abs=0.05)
    assert np.abs(info["frames"][4] - frames[4][:120, :160].astype(int)).mean() < 8


# In a child process limited to test_hostile_cli.FILE_SIZE_LIMIT bytes per file: frames of a photo with noise (so
# none compresses to nothing) until write() or close() raises; prints where and what.
FULL_DISK_CHILD = """
import json, sys
import cv2, numpy as np
from core.video import VideoWriter
photo = cv2.resize(cv2.imread(sys.argv[1]), (640 + 4 * 60, 360))
frames = [np.ascontiguousarray(photo[:, 4 * i:4 * i + 640]) for i in range(60)]
noise = np.random.default_rng(0)
writer = VideoWriter(sys.argv[2], 25.0)
written, where = 0, None
try:
    for frame in frames:
        writer.write(np.clip(frame + noise.integers(0, 40, frame.shape), 0, 255).astype(np.uint8))
        written += 1
    where = "close"
    writer.close()
except OSError as error:
    where = where or "write"
    writer.discard()
    print(json.dumps({"where": where, "written": written, "errno": error.errno, "message": str(error)}))
"""


def test_a_write_past_a_file_size_limit_raises_from_write_naming_the_file_and_leaves_nothing(media_dir, tmp_path):
    """As on a full disk: RLIMIT_FSIZE makes the encoder thread's writes fail with EFBIG; the next write() raises
    it (the run stops there, not after encoding every frame), and no file is left, whole or partial."""
    result = subprocess.run([sys.executable, "-c", FULL_DISK_CHILD, str(media_dir / "bbt1.jpg"), str(tmp_path / "out")],
                            cwd=REPO, preexec_fn=limit_file_size, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    failure = json.loads(result.stdout)
    assert failure["where"] == "write" and failure["written"] < 60, failure
    assert failure["errno"] == errno.EFBIG and str(tmp_path / "out.mp4") in failure["message"], failure
    assert list(tmp_path.iterdir()) == []


def test_a_stopped_writer_waits_for_no_frame_and_leaves_nothing(media_dir, tmp_path):
    """Cancel in the Video tab: the `with` block is left by an exception while frames still wait in the queue."""
    frames = panned_frames(media_dir / "bbt1.jpg", 1920, 1080, 12)
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(tmp_path / "cancelled", FPS) as writer:
            for frame in frames:
                writer.write(frame)
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    assert not [thread for thread in threading.enumerate() if thread.name == "encode cancelled.mp4"]  # it has ended


def decoder_threads(name: str) -> list:
    return [thread for thread in threading.enumerate() if thread.name == f"decode {name}"]


def test_frames_decoded_ahead_are_the_frames_in_order_and_the_thread_stops_with_the_reader(media_dir, tmp_path):
    """core.video.read_frames_ahead (the apps' video runs): the same frames as read_frames, in order; its errors come
    out where read_frames raises them; a run stopped after a few frames (Cancel) ends the decoding thread."""
    from core.video import NOT_OPENED, VideoError, read_frames_ahead

    clip = media_dir / "short_hamilton_clip.mp4"
    plain = list(read_frames(clip, 40))
    ahead = list(read_frames_ahead(clip, 40))
    assert [index for index, _ in ahead] == list(range(40))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(plain, ahead))
    reader = read_frames_ahead(clip)
    assert next(reader)[0] == 0 and decoder_threads(clip.name)
    reader.close()
    assert decoder_threads(clip.name) == []
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    with pytest.raises(VideoError, match=re.escape(NOT_OPENED)):
        next(read_frames_ahead(corrupt))
    assert decoder_threads(corrupt.name) == []


def write_with_pyav(path, audio: bool, video: bool, cover: bool = False) -> None:
    """A short file in `path`'s container: a tone and/or eight grey frames; `cover` adds an MJPEG cover picture (the
    still image an MP3 or M4A carries as a "video" stream with disposition attached_pic). Streams are all added before
    the first packet is written (the header)."""
    import av

    with av.open(str(path), "w") as container:
        packets = []
        if video:
            stream = container.add_stream("mpeg4", rate=25)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for index in range(8):
                frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 30 * index, np.uint8), format="rgb24")
                frame.pts = index
                packets.append(lambda frame=frame, stream=stream: stream.encode(frame))
            packets.append(lambda stream=stream: stream.encode())
        if cover:
            picture = container.add_stream("mjpeg", rate=1)
            picture.width, picture.height, picture.pix_fmt = 64, 64, "yuvj420p"
            picture.disposition = av.stream.Disposition.attached_pic
            still = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 100, np.uint8), format="rgb24")
            packets.append(lambda: picture.encode(still) + picture.encode())
        if audio:
            tone = container.add_stream("libmp3lame", rate=8000)
            samples = (np.sin(np.arange(8000) / 5) * 8000).astype("<i2")[None]
            sound = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            sound.sample_rate = 8000
            packets.append(lambda: tone.encode(sound) + tone.encode())
        for encode in packets:
            container.mux(encode())


@pytest.mark.parametrize("name, audio, video, cover, message", [
    ("tone.mp3", True, False, False, "is an audio-only file"),
    ("tone.mkv", True, False, False, "is an audio-only file"),
    ("tone_with_cover.mp3", True, False, True, "is an audio-only file"),
    ("clip.mkv", True, True, False, None),
    ("clip.avi", False, True, False, None),
])
def test_any_container_ffmpeg_reads_is_told_video_or_audio_only_from_its_header(tmp_path, name, audio, video, cover, message):
    """The container is read by PyAV whatever it is (no parser of one format's boxes): an audio-only MP3 or Matroska
    file is named audio-only, an MP3 with a cover picture too (FFmpeg calls the picture a video stream); a Matroska or
    AVI video passes and its frames decode."""
    from core.video import VideoError, check_video_file

    write_with_pyav(tmp_path / name, audio, video, cover)
    if message:
        with pytest.raises(VideoError, match=message):
            check_video_file(tmp_path / name)
    else:
        check_video_file(tmp_path / name)
        assert len(list(read_frames(tmp_path / name))) == 8
