"""Reading video files frame by frame and writing annotated videos that browsers play.

A file is first opened with PyAV (`open_container`: any container FFmpeg knows, checked from its header, so that an
empty, audio-only or unreadable file gets its own message); its frames are decoded with OpenCV (`read_frames`), and
`read_frames_ahead` decodes in a thread of its own, a few frames before they are analysed.
Writing is H.264 in MP4 (yuv420p, `+faststart`: the index comes first, so a browser starts
playing before the whole file has arrived), which Chrome, Firefox and Safari play and Gradio serves as it is, encoded
with PyAV (FFmpeg's libx264, in PyAV's wheel; OpenCV here has no H.264 encoder). The writer scales frames wider than
OUTPUT_MAX_WIDTH down to it (display size: a 1080p clip comes back as 1280x720) and encodes in a thread of its own,
fed through a short queue, so encoding runs beside the analysis of the next frames. PyAV reports a failed write,
where OpenCV's `VideoWriter.write` returns nothing and a full disk would go unnoticed. bench/video_speed.py
measures it against the VP8/WebM writer it replaced (15x slower than real time on a 1080p clip).
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".wma")
OUTPUT_SUFFIX = ".mp4"
OUTPUT_FORMAT, OUTPUT_CODEC = "mp4", "libx264"  # H.264 in MP4, written with PyAV
OUTPUT_MAX_WIDTH = 1280  # display size: wider frames are scaled down to this width (aspect ratio kept)
ENCODER_OPTIONS = {"preset": "veryfast", "crf": "23"}  # x264's; chosen with bench/video_speed.py (BENCHMARKS.md)
MUXER_OPTIONS = {"movflags": "+faststart"}  # the index (moov) before the frames: browsers play while loading
ENCODE_QUEUE_FRAMES = 4  # frames waiting for the encoder thread; write() blocks when it is full
DECODE_AHEAD_FRAMES = 4  # read_frames_ahead: frames decoded before they are taken
QUEUE_POLL_S = 0.1  # how often a thread blocked on a full queue checks whether it was stopped
MAX_RATE_DENOMINATOR = 1001  # 29.97 frames/s = 30000/1001
DEFAULT_FPS = 25.0


class VideoError(ValueError):
    """A video file that cannot be read, with a message meant for the user."""


NOT_OPENED = "cannot be opened as a video (corrupt or unsupported format)"
NO_FRAME = "has no frame that can be decoded (corrupt video data)"
AUDIO_ONLY = "is an audio-only file (no video stream)"
NO_VIDEO_STREAM = "has no video stream"
EMPTY = "is empty (0 bytes)"


def is_video_path(path) -> bool:
    """A video by its name, or an animated GIF (more than one frame: labelled frame by frame, as a video; a still
    GIF is a photo)."""
    path = Path(path)
    suffix = path.suffix.lower()
    return suffix in VIDEO_SUFFIXES + AUDIO_SUFFIXES or (suffix == ".gif" and is_animated_gif(path))


def is_animated_gif(path: Path) -> bool:
    """True for a readable GIF of several frames (PIL counts them without decoding the pixels)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) > 1
    except (OSError, UnidentifiedImageError):
        return False


def video_streams(container) -> list:
    """A PyAV container's video streams, without the still pictures that audio files carry as a "video" stream
    (an MP3's or M4A's cover art: disposition attached_pic)."""
    import av

    return [stream for stream in container.streams.video
            if not stream.disposition & av.stream.Disposition.attached_pic]


def open_container(path):
    """The file opened with PyAV (FFmpeg's demuxers: whatever container FFmpeg knows, read from its header), checked
    to hold a video stream; the caller closes it. `VideoError` with its own message for what OpenCV would only call
    unreadable: no such file, a directory, an empty file, a file FFmpeg cannot open, an audio-only file, a file with
    no video stream."""
    import av

    path = Path(path)
    if path.is_dir():
        raise VideoError("is a directory, not a video file")
    if not path.exists():
        raise VideoError("no such file")
    if path.stat().st_size == 0:
        raise VideoError(EMPTY)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception:  # FFmpeg's errors (InvalidDataError, ...) and OSError
        raise VideoError(NOT_OPENED) from None
    if not video_streams(container):
        has_audio = bool(container.streams.audio)
        container.close()
        raise VideoError(AUDIO_ONLY if has_audio else NO_VIDEO_STREAM)
    return container


def check_video_file(path) -> None:
    """`open_container`'s checks alone (the container is closed again)."""
    open_container(path).close()


def video_info(path) -> tuple[float, int]:
    """(frames per second, frame count; 0 when unknown) of a video file, or `VideoError` saying why not."""
    check_video_file(path)
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError(NOT_OPENED)
        fps = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return (fps if 0 < fps < 1000 else DEFAULT_FPS), max(0, count)
    finally:
        capture.release()


def read_frames(path, max_frames: int | None = None, start: int = 0):
    """Yield (index, RGB uint8 frame) for the frames from `start` up to (not including) `max_frames` (None: to the
    end). `VideoError` when the file is not a readable video, or has no frame at all (start 0); a start past the last
    frame yields nothing. A start is reached by seeking; where the container does not land exactly on it, the frames
    before it are decoded and dropped instead."""
    check_video_file(path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError(NOT_OPENED)
    index = start
    try:
        if start > 0:
            capture.set(cv2.CAP_PROP_POS_FRAMES, start)
            if int(capture.get(cv2.CAP_PROP_POS_FRAMES)) != start:
                capture.release()
                capture = cv2.VideoCapture(str(path))
                for _ in range(start):
                    if not capture.grab():
                        break
        while max_frames is None or index < max_frames:
            ok, frame_bgr = capture.read()
            if not ok or frame_bgr is None:
                break
            yield index, cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise VideoError(NO_FRAME)


def read_frames_ahead(path, max_frames: int | None = None, start: int = 0, ahead: int = DECODE_AHEAD_FRAMES):
    """`read_frames`, decoded in a thread of its own up to `ahead` frames before they are taken, so decoding runs
    beside the analysis of the frame before. Its errors (`VideoError`) are raised here, after the frames decoded
    before them; closing the generator (a cancelled run) stops the thread and releases the file."""
    items: queue.Queue = queue.Queue(ahead)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=QUEUE_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def decode() -> None:
        frames = read_frames(path, max_frames, start)
        try:
            for item in frames:
                if not put(item):
                    return
            put(None)
        except BaseException as error:  # raised in the consumer's thread, where it would have been
            put(error)
        finally:
            frames.close()

    thread = threading.Thread(target=decode, name=f"decode {Path(path).name}", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def display_size(width: int, height: int, max_width: int = OUTPUT_MAX_WIDTH) -> tuple[int, int]:
    """The size an annotated video of width x height frames is written at: at most max_width wide, the aspect ratio
    kept, both sides even (4:2:0 needs them so)."""
    if width > max_width:
        width, height = max_width, max(2, round(height * max_width / width))
    return width - width % 2, height - height % 2


class VideoWriter:
    """Writes RGB frames to an MP4 (H.264) file at `display_size` of the first frame (a wider frame is scaled down,
    an odd side cut by one pixel). `write()` hands the frame to the encoder thread through a queue of
    ENCODE_QUEUE_FRAMES (it blocks when the queue is full), so the caller must not change the array afterwards.
    The frames go to a temporary name beside `path` (`core.files.temporary_path`); `close()` waits for the encoder,
    then renames the finished file to `path`; `discard()` stops it and removes the file, and a `with` block left by an
    exception discards. Every write is checked: a full disk (ENOSPC), a file-size limit (EFBIG) or an encoder error
    raises `OSError` naming the file, from the next `write()` or from `close()`, and no half file is left behind."""

    def __init__(self, path, fps: float, max_width: int = OUTPUT_MAX_WIDTH):
        self.path = Path(path).with_suffix(OUTPUT_SUFFIX)
        self.rate = Fraction(fps).limit_denominator(MAX_RATE_DENOMINATOR) or Fraction(DEFAULT_FPS)
        self.max_width = max_width
        self.frames = 0  # frames given to write()
        self._encoded = 0  # frames given to the encoder (the encoder thread's count)
        self.size = None  # (width, height) written, from the first frame
        self._container = None
        self._stream = None
        self._queue: queue.Queue = queue.Queue(ENCODE_QUEUE_FRAMES)
        self._thread = None
        self._error: OSError | None = None  # the encoder thread's failure, raised in the caller's thread
        self._stopping = False  # discard(): the encoder thread drops what is left in the queue

    @property
    def temporary(self) -> Path:
        from core.files import temporary_path

        return temporary_path(self.path)

    def _checked(self, action):
        """`action()`, with PyAV's errors (its OSError of a failed write included) turned into an OSError that names
        the file being written."""
        import av

        try:
            return action()
        except av.error.FFmpegError as error:
            raise OSError(getattr(error, "errno", None) or errno.EIO, getattr(error, "strerror", None) or str(error),
                          str(self.path)) from None

    def _open(self, width: int, height: int) -> None:
        import av

        self.size = display_size(width, height, self.max_width)
        self._container = self._checked(lambda: av.open(str(self.temporary), "w", format=OUTPUT_FORMAT,
                                                        options=MUXER_OPTIONS))
        stream = self._container.add_stream(OUTPUT_CODEC, rate=self.rate, options=ENCODER_OPTIONS)
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        self._stream = stream
        self._thread = threading.Thread(target=self._encode_queued, name=f"encode {self.path.name}", daemon=True)
        self._thread.start()

    def _encode_queued(self) -> None:
        """The encoder thread: scale, convert and encode each queued frame until None; after a failure (or once
        discard() has been called) it only empties the queue, so write() never waits on it for ever."""
        while (frame_rgb := self._queue.get()) is not None:
            if self._error is None and not self._stopping:
                try:
                    self._encode(frame_rgb)
                except OSError as error:
                    self._error = error
                except Exception as error:  # anything else from the encoder: still a failed write of this file
                    self._error = OSError(errno.EIO, str(error), str(self.path))

    def _encode(self, frame_rgb: np.ndarray) -> None:
        import av

        width, height = self.size
        extra_width, extra_height = frame_rgb.shape[1] - width, frame_rgb.shape[0] - height
        if extra_width in (0, 1) and extra_height in (0, 1):  # an odd side is cut by one pixel
            frame_rgb = frame_rgb[:height, :width]
        else:  # wider than OUTPUT_MAX_WIDTH (or not the first frame's size): scaled
            frame_rgb = cv2.resize(frame_rgb, self.size, interpolation=cv2.INTER_LINEAR)
        # OpenCV's RGB -> I420 is BT.601 as swscale's (decoded colours agree to the unit) at a tenth of its time
        planes = cv2.cvtColor(np.ascontiguousarray(frame_rgb), cv2.COLOR_RGB2YUV_I420)
        video_frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        video_frame.pts = self._encoded
        self._encoded += 1
        self._checked(lambda: [self._container.mux(packet) for packet in self._stream.encode(video_frame)])

    def write(self, frame_rgb: np.ndarray) -> None:
        """Queue one RGB frame (the encoder thread reads it later: do not change it). `OSError` when an earlier
        frame could not be written."""
        if self._error is not None:
            raise self._error
        height, width = frame_rgb.shape[:2]
        if self._container is None:
            try:
                self._open(width, height)
            except BaseException:  # e.g. no permission in the folder: nothing stays open or on disk
                self.discard()
                raise
        self._queue.put(frame_rgb)
        self.frames += 1

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        """Wait for the encoder, flush it, close the file and rename it to `path` (nothing is written when no frame
        was). `OSError` (the file removed) when a frame could not be written."""
        if self._container is None:
            return
        try:
            self._stop_thread()
            if self._error is not None:
                raise self._error
            self._checked(lambda: [self._container.mux(packet) for packet in self._stream.encode()])
            self._checked(self._container.close)  # with +faststart, the index is moved to the front here
            self._container = None
            with open(self.temporary, "rb+") as handle:  # a write the kernel accepted but could not store
                os.fsync(handle.fileno())
            os.replace(self.temporary, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Stop writing and remove what was written."""
        self._stopping = True
        self._stop_thread()
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:  # the file is removed next; its trailer does not matter
                pass
        self.temporary.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is None:
            self.close()
        else:
            self.discard()
