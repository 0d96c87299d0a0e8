"""The CLI's half of the hostile pass: `python app.py predict` never writes over an input or over another
output, says so when a write fails (a full disk) and leaves no half file, refuses huge inputs from their headers
before decoding them, and refuses bad arguments clearly. Real photos and the real clip from media/, real runs of
`app.py predict` as subprocesses. (The page server's long path is in test_web_server.py; the training history and the
stale figures in test_train.py.)
"""

import json
import resource
import shutil
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest

from core.model_folder import ARCHITECTURE_FILE
from core.pipeline import emotion_model_dir
from tests.harness import REPO, huge_png, read_rgb, require, run_with_peak_rss, synthetic_video
from tests.test_predict_cli import run_cli

CLIP = "short_hamilton_clip.mp4"
REFUSAL_PEAK_MB = 600  # peak memory of a run that refuses a huge input (decoding the PNG took 2.4 GB)
FILE_SIZE_LIMIT = 20_000  # bytes: RLIMIT_FSIZE of the "full disk" runs; every annotated copy is larger


@pytest.fixture(scope="module", autouse=True)
def model():
    require(emotion_model_dir() / ARCHITECTURE_FILE, "expression model")


def records_of(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def assert_clean_error(result, code: int, *texts: str):
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    for text in texts:
        assert text in result.stderr, result.stderr[-2000:]


# ---------------------------------------------------------------------------------------------------------------------
# Nothing written over an input or over another output
# ---------------------------------------------------------------------------------------------------------------------


def test_out_that_holds_an_input_is_refused_and_the_photo_is_untouched(media_dir, tmp_path):
    """Before: `--out` pointed at the input's folder overwrote the original photo (rc 0)."""
    shutil.copyfile(media_dir / "happy.jpg", tmp_path / "happy.jpg")
    original = (tmp_path / "happy.jpg").read_bytes()
    result = run_cli(tmp_path / "happy.jpg", "--out", tmp_path)
    assert_clean_error(result, 2, f"--out {tmp_path}: this folder holds input files (happy.jpg)", "--allow-input-folder")
    assert (tmp_path / "happy.jpg").read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["happy.jpg"]
    assert result.stdout == ""  # refused before any input

    # the same folder spelled through a symbolic link is the same folder
    (tmp_path.parent / f"{tmp_path.name}-link").symlink_to(tmp_path)
    result = run_cli(tmp_path / "happy.jpg", "--out", tmp_path.parent / f"{tmp_path.name}-link")
    assert_clean_error(result, 2, "this folder holds input files (happy.jpg)")
    assert (tmp_path / "happy.jpg").read_bytes() == original


def test_allowed_input_folder_never_takes_an_inputs_name(media_dir, tmp_path):
    """With --allow-input-folder the copies go beside the originals under names no input has: happy.jpg's copy is not
    happy-2.jpg when an input is called that."""
    shutil.copyfile(media_dir / "happy.jpg", tmp_path / "happy.jpg")
    shutil.copyfile(media_dir / "sad.jpg", tmp_path / "happy-2.jpg")
    originals = {name: (tmp_path / name).read_bytes() for name in ("happy.jpg", "happy-2.jpg")}
    result = run_cli(tmp_path, "--out", tmp_path, "--allow-input-folder", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    for name, data in originals.items():
        assert (tmp_path / name).read_bytes() == data, f"{name} was written over"
    outputs = {r["input"]: r["output"] for r in records_of(result)}
    assert outputs == {str(tmp_path / "happy-2.jpg"): str(tmp_path / "happy-2-2.jpg"),
                       str(tmp_path / "happy.jpg"): str(tmp_path / "happy-3.jpg")}
    for source, copy in outputs.items():
        assert cv2.imread(copy).shape == cv2.imread(source).shape
    assert sorted(p.name for p in tmp_path.iterdir()) == ["happy-2-2.jpg", "happy-2.jpg", "happy-3.jpg", "happy.jpg"]


def test_inputs_with_the_same_name_get_a_copy_each(media_dir, tmp_path):
    """Before: two inputs called x.jpg overwrote each other's annotated copy (rc 0); so did two videos."""
    for folder, photo in (("a", "happy.jpg"), ("b", "two_people.jpg")):
        (tmp_path / folder).mkdir()
        shutil.copyfile(media_dir / photo, tmp_path / folder / "x.jpg")
        shutil.copyfile(media_dir / CLIP, tmp_path / folder / "clip.mp4")
    inputs = [tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg", tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4"]
    out = tmp_path / "out"
    result = run_cli(*inputs, "--out", out, "--json", "--max-frames", 3)
    assert result.returncode == 0, result.stderr[-2000:]
    records = records_of(result)
    outputs = {r["input"]: r["output"] for r in records}
    assert outputs == {str(inputs[0]): str(out / "x.jpg"), str(inputs[1]): str(out / "x-2.jpg"),
                       str(inputs[2]): str(out / "clip.mp4"), str(inputs[3]): str(out / "clip-2.mp4")}
    assert sorted(p.name for p in out.iterdir()) == ["clip-2.mp4", "clip.mp4", "x-2.jpg", "x.jpg"]
    assert [len(r["faces"]) for r in records if r["input"].endswith(".jpg")] == [1, 2]
    assert cv2.imread(str(out / "x.jpg")).shape == cv2.imread(str(inputs[0])).shape
    assert cv2.imread(str(out / "x-2.jpg")).shape == cv2.imread(str(inputs[1])).shape
    for name in ("clip.mp4", "clip-2.mp4"):  # complete, playable videos
        capture = cv2.VideoCapture(str(out / name))
        frames = 0
        while capture.read()[0]:
            frames += 1
        capture.release()
        assert frames == 3, name
    assert f"{inputs[1]}: its annotated copy is {out / 'x-2.jpg'} (x.jpg would be another input's copy)" in result.stderr


# ---------------------------------------------------------------------------------------------------------------------
# Bad arguments
# ---------------------------------------------------------------------------------------------------------------------


def test_out_naming_a_file_is_a_clear_argument_error(media_dir, tmp_path):
    """Before: `--out` naming an existing file gave a traceback."""
    shutil.copyfile(media_dir / "happy.jpg", tmp_path / "happy.jpg")
    original = (tmp_path / "happy.jpg").read_bytes()
    result = run_cli(media_dir / "sad.jpg", "--out", tmp_path / "happy.jpg")
    assert_clean_error(result, 2, f"--out {tmp_path / 'happy.jpg'}: is a file, not a folder")
    assert (tmp_path / "happy.jpg").read_bytes() == original
    result = run_cli(media_dir / "sad.jpg", "--out", tmp_path / "happy.jpg" / "sub")
    assert_clean_error(result, 2, f"--out {tmp_path / 'happy.jpg' / 'sub'}: cannot create the folder (")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_max_frames_below_one_is_an_argument_error_not_the_videos(media_dir, value):
    """Before: `--max-frames 0` blamed the video ("has no frame that can be decoded")."""
    result = run_cli(media_dir / CLIP, "--max-frames", value)
    assert_clean_error(result, 2, f"argument --max-frames: must be at least 1, got {value}")
    assert "frame that can be decoded" not in result.stderr and result.stdout == ""


# ---------------------------------------------------------------------------------------------------------------------
# A full disk
# ---------------------------------------------------------------------------------------------------------------------


def limit_file_size():
    """In the child: writes past FILE_SIZE_LIMIT bytes fail with EFBIG, as on a full disk (ENOSPC), no root needed."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def test_a_write_that_fails_is_an_error_naming_the_file_and_leaves_nothing(media_dir, tmp_path):
    """Before: on a full file system a video ended with rc 0 and 1 decodable frame of 105, and annotated images were
    silently not written. Every copy larger than the limit must fail: named, exit 3, no file (whole or partial)."""
    out = tmp_path / "out"
    photo, clip, small = media_dir / "2008_002506.jpg", media_dir / CLIP, media_dir / "happy.jpg"
    result = subprocess.run([sys.executable, str(REPO / "app.py"), "predict", str(photo), str(clip), str(small),
                             "--out", str(out), "--json", "--max-frames", "30"], cwd=REPO, preexec_fn=limit_file_size,
                            capture_output=True, text=True, timeout=300)
    assert_clean_error(result, 3)
    errors = {r["input"]: r["error"] for r in records_of(result) if "error" in r}
    for source, copy in ((photo, out / photo.name), (clip, out / "short_hamilton_clip.mp4"), (small, out / small.name)):
        message = f"{copy}: cannot write the annotated copy (File too large); nothing was left there"
        assert message in errors[str(source)], errors
        assert message in result.stderr
    assert list(out.iterdir()) == []  # neither the copies nor their partial-* temporaries
    assert len([r for r in records_of(result) if "frame" in r]) == 30  # the labels themselves still came out


def test_the_video_writer_leaves_no_file_when_a_write_fails_or_the_run_stops(tmp_path, media_dir):
    """core.video.VideoWriter in-process: an exception inside `with` discards the temporary file; a completed one
    holds every frame."""
    from core.video import VideoWriter, read_frames

    frame = cv2.resize(read_rgb(media_dir / "two_people.jpg"), (160, 120), interpolation=cv2.INTER_AREA)
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "stopped", 25.0) as writer:
            writer.write(frame)
            raise RuntimeError("cancelled")
    assert list(tmp_path.iterdir()) == []
    with VideoWriter(tmp_path / "done", 25.0) as writer:
        for _ in range(7):
            writer.write(frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done.mp4"]
    decoded = [f for _, f in read_frames(writer.path)]
    assert len(decoded) == 7 and decoded[0].shape == (120, 160, 3)
    assert np.abs(decoded[3].astype(int) - frame).mean() < 8  # the picture, not a blank frame


# ---------------------------------------------------------------------------------------------------------------------
# Size limits from the headers, before decoding
# ---------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def huge_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("huge")
    return {
        "png": huge_png(folder / "bomb.png", 20_000, 20_000),  # 1.2 MB on disk, 1.2 GB decoded
        "video": synthetic_video(folder / "8k.mp4", 7680, 4320, 3),
        "long": synthetic_video(folder / "long.mp4", 64, 64, 2, seconds_apart=700),  # 11 min 40 s, two frames
    }


def test_a_decompression_bomb_png_is_refused_from_its_header(huge_inputs, media_dir):
    """Before: a 1.2 MB PNG of 20000x20000 cost the CLI 2.4 GB and 17 s before the 100-MP refusal. The good photo
    beside it is still labelled, in its turn."""
    png = huge_inputs["png"]
    assert png.stat().st_size < 2_000_000
    result, peak_mb = run_with_peak_rss([sys.executable, REPO / "app.py", "predict", png, media_dir / "happy.jpg",
                                         "--json"])
    assert result.returncode == 1, result.stderr[-2000:]
    records = records_of(result)
    assert [r["input"] for r in records] == [str(png), str(media_dir / "happy.jpg")]
    assert records[0]["error"] == f"{png}: the image is 400 megapixels; at most 100 megapixels are accepted"
    assert len(records[1]["faces"]) == 1
    assert peak_mb < REFUSAL_PEAK_MB, f"peak RSS {peak_mb:.0f} MB: the image was decoded"


def test_an_8k_video_is_refused_from_its_header_without_loading_the_models(huge_inputs):
    """Before: an 8K video was decoded frame by frame (0.8 GB in the CLI, 2.45 GB in the app). Refused from the
    stream header; a run whose every input is refused never loads the models."""
    video = huge_inputs["video"]
    result, peak_mb = run_with_peak_rss([sys.executable, REPO / "app.py", "predict", video, huge_inputs["png"],
                                         "--emotion-model", "/nonexistent/model", "--json"])
    assert result.returncode == 1, result.stderr[-2000:]  # not 2: the missing model was never needed
    (record, _) = records_of(result)
    assert record["error"] == f"{video}: has 7680x4320 frames; at most 4096x2160 (8.8 megapixels) are accepted"
    assert peak_mb < REFUSAL_PEAK_MB, f"peak RSS {peak_mb:.0f} MB"


def test_a_long_video_is_refused_unless_max_frames_bounds_the_work(huge_inputs):
    long_video = huge_inputs["long"]
    result = run_cli(long_video, "--json")
    assert result.returncode == 1
    (record,) = records_of(result)
    assert record["error"] == (f"{long_video}: lasts 11 min 40 s; at most 10 min are accepted "
                               "(--max-frames N labels only the first N frames)")
    result = run_cli(long_video, "--json", "--max-frames", 1)
    assert result.returncode == 0, result.stderr[-2000:]
    assert [r["frame"] for r in records_of(result)] == [0]


def test_header_checks_give_the_sizes_and_pass_real_media(huge_inputs, media_dir):
    """core.input_limits in-process: the sizes come from the headers; real photos and the clip pass; a file that is
    not an image or a video is named so."""
    from core.input_limits import check_image_header, check_video_header, image_size, video_header

    assert image_size(media_dir / "happy.jpg") == cv2.imread(str(media_dir / "happy.jpg")).shape[1::-1]
    header = video_header(media_dir / CLIP)
    capture = cv2.VideoCapture(str(media_dir / CLIP))
    assert (header.width, header.height) == (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                                             int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    assert header.frames == int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) and 9 < header.seconds < 11
    capture.release()
    for photo in media_dir.glob("*.jpg"):
        check_image_header(photo)
    check_video_header(media_dir / CLIP)
    assert image_size(REPO / "README.md") is None and video_header(REPO / "README.md") is None
    with pytest.raises(ValueError, match="not a readable image"):
        check_image_header(REPO / "README.md")
    with pytest.raises(ValueError, match="cannot be opened as a video"):
        check_video_header(REPO / "README.md")
    with pytest.raises(ValueError, match="at most 100 megapixels"):
        check_image_header(huge_inputs["png"])
    with pytest.raises(ValueError, match="7680x4320"):
        check_video_header(huge_inputs["video"])
    check_video_header(huge_inputs["long"], max_seconds=None)
