"""`python app.py predict` as other tools call it: real model, real media photos and video, bad inputs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from core.labels import EMOTIONS
from core.model_folder import ARCHITECTURE_FILE
from core.pipeline import emotion_model_dir
from tests.harness import REPO, require

VIDEO_FRAMES = 5


def run_cli(*args, timeout=240):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, str(REPO / "app.py"), "predict", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    import cv2

    folder = tmp_path_factory.mktemp("bad")
    (folder / "notes.jpg").write_text("this is not an image")
    cv2.imwrite(str(folder / "tiny.png"), np.zeros((1, 1, 3), np.uint8))
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    return folder


@pytest.fixture(scope="module")
def json_run(media_dir, bad_inputs):
    """One CLI run over good photos, a video and bad inputs (loading TensorFlow once)."""
    require(emotion_model_dir() / ARCHITECTURE_FILE, "expression model")
    inputs = [media_dir / "two_people.jpg", media_dir / "bbt1.jpg", bad_inputs / "notes.jpg", bad_inputs / "tiny.png",
              bad_inputs / "corrupt.mp4", media_dir / "short_hamilton_clip.mp4"]
    result = run_cli(*inputs, "--json", "--max-frames", VIDEO_FRAMES)
    records = [json.loads(line) for line in result.stdout.splitlines()]  # every stdout line is JSON
    return result, {str(path): [r for r in records if r["input"] == str(path)] for path in inputs}


def check_face(face):
    """A face of the media (nobody masked, every face large enough to judge) in the CLI's JSON shape."""
    assert set(face) == {"box", "score", "emotion", "mask", "too_small", "head_turned"} and face["too_small"] is False
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
    assert 0 < face["score"] <= 1
    assert face["emotion"]["label"] in EMOTIONS and list(face["emotion"]["scores"]) == list(EMOTIONS)
    assert face["mask"] is None or (face["mask"]["label"] in ("with_mask", "without_mask") and 0 <= face["mask"]["score"] <= 1)


def test_json_has_one_object_per_image_with_every_face(json_run, media_dir):
    _, records = json_run
    for name, count in [("two_people.jpg", 2), ("bbt1.jpg", 4)]:
        (record,) = records[str(media_dir / name)]
        assert set(record) == {"input", "faces", "ms"} and record["ms"] > 0
        assert len(record["faces"]) == count
        for face in record["faces"]:
            check_face(face)


def test_json_has_one_object_per_video_frame(json_run, media_dir):
    _, records = json_run
    frames = records[str(media_dir / "short_hamilton_clip.mp4")]
    assert [r["frame"] for r in frames] == list(range(VIDEO_FRAMES))
    assert sum(len(r["faces"]) for r in frames) >= 1
    for record in frames:
        for face in record["faces"]:
            check_face(face)


def test_bad_inputs_get_a_clear_error_and_the_rest_still_runs(json_run, bad_inputs):
    result, records = json_run
    expected = {"notes.jpg": "not an image", "tiny.png": "1x1 pixels", "corrupt.mp4": "cannot be opened as a video"}
    for name, message in expected.items():
        (record,) = records[str(bad_inputs / name)]
        assert message in record["error"] and record["faces"] == []
        assert message in result.stderr  # logged to stderr as well
    assert result.returncode == 1


def test_out_writes_annotated_copies(media_dir, tmp_path):
    require(emotion_model_dir() / ARCHITECTURE_FILE, "expression model")
    import cv2

    result = run_cli(media_dir / "2008_002506.jpg", "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "3 face(s)" in result.stdout
    annotated = cv2.imread(str(tmp_path / "2008_002506.jpg"))
    original = cv2.imread(str(media_dir / "2008_002506.jpg"))
    assert annotated.shape == original.shape
    assert np.abs(annotated.astype(int) - original).max() > 100  # boxes and labels were drawn


def test_a_truncated_model_file_is_named_at_start_up(tmp_path, media_dir):
    """A corrupt model folder stops the CLI before any input, naming the file (exit 2)."""
    import shutil

    folder = tmp_path / "emotion"
    shutil.copytree(emotion_model_dir(), folder)
    data = (folder / "model.tflite").read_bytes()
    (folder / "model.tflite").write_bytes(data[: len(data) // 3])
    result = run_cli(media_dir / "happy.jpg", "--emotion-model", folder)
    assert result.returncode == 2
    assert f"{folder / 'model.tflite'}: corrupt or truncated" in result.stderr
    assert result.stdout == ""


def audio_only_mp4(source, target):
    """`source` (an MP4 with a video and an audio track) with its video track removed from the `moov` box: a real
    audio-only MP4 (what a phone's voice memo or an .m4a renamed .mp4 is)."""
    import struct

    data = source.read_bytes()
    offset, boxes = 0, []
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        boxes.append((kind, data[offset:offset + size]))
        offset += size
    out = b""
    for kind, box in boxes:
        if kind == b"moov":
            body, pos, kept = box[8:], 0, b""
            while pos < len(body):
                size, child = struct.unpack(">I4s", body[pos:pos + 8])
                if not (child == b"trak" and b"vide" in body[pos:pos + size][:400]):
                    kept += body[pos:pos + size]
                pos += size
            box = struct.pack(">I4s", 8 + len(kept), b"moov") + kept
        out += box
    target.write_bytes(out)
    return target


def undecodable_mp4(source, target):
    """`source` with every byte of its media data zeroed: the container opens, no frame decodes."""
    import struct

    data = bytearray(source.read_bytes())
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"mdat":
            data[offset + 8:offset + size] = bytes(size - 8)
        offset += size
    target.write_bytes(bytes(data))
    return target


def test_each_unreadable_video_gets_its_own_message(tmp_path, media_dir):
    """A 0-byte file, an audio-only file and a video with no decodable frame are told apart."""
    import wave

    clip = media_dir / "short_hamilton_clip.mp4"
    (tmp_path / "empty.mp4").write_bytes(b"")
    with wave.open(str(tmp_path / "voice.wav"), "wb") as handle:
        handle.setnchannels(1), handle.setsampwidth(2), handle.setframerate(8000)
        handle.writeframes((np.sin(np.arange(8000) / 5) * 8000).astype("<i2").tobytes())
    audio_only_mp4(clip, tmp_path / "audio_only.mp4")
    undecodable_mp4(clip, tmp_path / "zeroed.mp4")
    names = ["empty.mp4", "voice.wav", "audio_only.mp4", "zeroed.mp4"]
    result = run_cli(*[tmp_path / n for n in names], "--json")
    records = {json.loads(line)["input"]: json.loads(line) for line in result.stdout.splitlines()}
    expected = {"empty.mp4": "is empty (0 bytes)", "voice.wav": "is an audio-only file (no video stream)",
                "audio_only.mp4": "is an audio-only file (no video stream)",
                "zeroed.mp4": "has no frame that can be decoded"}
    for name, message in expected.items():
        assert records[str(tmp_path / name)]["error"].startswith(f"{tmp_path / name}: {message}")
    assert result.returncode == 1


def test_a_folder_is_the_media_files_in_it(tmp_path, media_dir):
    """`predict DIR` labels the images (and videos) in DIR; a folder without any says so."""
    import shutil

    for name in ("two_people.jpg", "happy.jpg"):
        shutil.copyfile(media_dir / name, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not media")
    (tmp_path / "sub").mkdir()
    (tmp_path / "empty").mkdir()
    result = run_cli(tmp_path, tmp_path / "empty", "--json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["input"] for r in records] == [str(tmp_path / "happy.jpg"), str(tmp_path / "two_people.jpg"),
                                             str(tmp_path / "empty")]
    assert len(records[0]["faces"]) == 1 and len(records[1]["faces"]) == 2
    assert records[2]["error"] == f"{tmp_path / 'empty'}: is a directory with no image or video files"
    assert "3 of 5 entries skipped" in result.stderr
    assert result.returncode == 1


def test_start_up_is_quiet(media_dir):
    """No TensorFlow/LiteRT/CUDA start-up chatter on stderr, with no logging variable set by the caller."""
    require(emotion_model_dir() / ARCHITECTURE_FILE, "expression model")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FACEXP_VERBOSE")}
    result = subprocess.run([sys.executable, str(REPO / "app.py"), "predict", str(media_dir / "happy.jpg"), "--json"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["faces"]
    for noise in ("absl::InitializeLog", "cuda", "cuInit", "XNNPACK", "oneDNN", "Assets written"):
        assert noise not in result.stderr, result.stderr[-2000:]


def test_an_animated_gif_is_labelled_frame_by_frame_and_a_still_one_as_a_photo(media_dir, tmp_path):
    """A GIF of several frames is a video (one JSON object per frame, an annotated MP4 with --out); a GIF of one frame
    is a photo (one object, an annotated GIF)."""
    from PIL import Image

    faces = [Image.open(media_dir / name).convert("RGB").resize((640, 480)) for name in ("two_people.jpg", "obama.jpg", "happy.jpg")]
    animated, still = tmp_path / "animated.gif", tmp_path / "still.gif"
    faces[0].save(animated, save_all=True, append_images=faces[1:], duration=100, loop=0)
    faces[0].save(still)
    out = tmp_path / "out"
    result = run_cli(animated, still, "--json", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    frames = [r for r in records if r["input"] == str(animated)]
    assert [r["frame"] for r in frames] == [0, 1, 2]
    assert [len(r["faces"]) for r in frames] == [2, 1, 1]
    (photo,) = [r for r in records if r["input"] == str(still)]
    assert "frame" not in photo and len(photo["faces"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["animated.mp4", "still.gif"], list(out.iterdir())
