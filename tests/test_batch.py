"""`python app.py batch` on Ray Data: a real local Ray, a real `ray start --head` cluster, the real models, media and
footage; compared with `app.py predict --json` on the same files.

Kept small for the suite's time: --max-frames FRAMES and segments of SEGMENT frames (shorter than the tracker's
warm-up, so every border is stitched, one warm-up spanning two segments, and the last segments' trackers start after
frame 0). The photos include a large collage whose faces only a photo's tiled search finds, three of them too small
to judge.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from batch.engine import processes_holding
from batch.faces import SCHEMA
from batch.plan import FACES_SUFFIX, FAILURES_FILE, PARTS_DIR, PLOT_SUFFIX, SUMMARY_SUFFIX, WARMUP_FRAMES
from core.files import temporary_path
from core.labels import EMOTIONS
from core.model_folder import ARCHITECTURE_FILE
from core.pipeline import emotion_model_dir
from tests.harness import REPO, free_port, media_collage, require, skip_or_fail

FRAMES = 100
SEGMENT = 30
assert SEGMENT < WARMUP_FRAMES < FRAMES - SEGMENT  # a segment's warm-up starts after frame 0
COLLAGE_CELL = (150, 118)  # tests.harness.media_collage: faces only the tiled search finds, some too small to judge
FOOTAGE_CLIPS = ("intel_asl_book.mkv", "gituatu_mask.mp4")  # a webcam-like signer (unmasked), a masked woman
RESUME_CLIPS = 3  # the resume test: copies of the media clip, killed after the first is finished
RUN_TIMEOUT_S = 300
CLUSTER_START_TIMEOUT_S = 120
RAY_STARTED = "Ray runtime started"


SHORT_TEMP_DIRS: list[Path] = []


def short_temp_dir() -> Path:
    """A folder with a short path for Ray's temporary files (its socket paths must stay under 107 characters); the
    Ray processes of a run are found by the files they hold open in it. Removed after the module's tests."""
    SHORT_TEMP_DIRS.append(Path(tempfile.mkdtemp(prefix="fxb-", dir="/tmp")))
    return SHORT_TEMP_DIRS[-1]


@pytest.fixture(scope="module", autouse=True)
def remove_short_temp_dirs():
    yield
    while SHORT_TEMP_DIRS:
        shutil.rmtree(SHORT_TEMP_DIRS.pop(), ignore_errors=True)


def batch_command(*args) -> list[str]:
    return [sys.executable, str(REPO / "app.py"), "batch", *map(str, args)]


def run_batch(*args, temp_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(temp_dir), **(env or {})}
    return subprocess.run(batch_command(*args), cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]  # every stdout line is JSON


def end_processes(pids: list[int], grace_s: float = 10.0) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.2)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def footage_clips(data_root) -> list[Path]:
    videos = require(data_root / "footage" / "videos", "footage videos")
    return [require(videos / name, f"footage clip {name}") for name in FOOTAGE_CLIPS]


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "notes.txt").write_text("these are notes, not a video")
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    return [folder / "notes.txt", folder / "corrupt.mp4"]


@pytest.fixture(scope="module")
def collage(media_dir, tmp_path_factory) -> Path:
    """A large photo of small faces (tests.harness.media_collage), as a file."""
    import cv2

    path = tmp_path_factory.mktemp("collage") / "collage.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(media_collage(media_dir, cell=COLLAGE_CELL), cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def good_inputs(media_dir, footage_clips, collage) -> list[Path]:
    require(emotion_model_dir() / ARCHITECTURE_FILE, "expression model")
    return [media_dir / "short_hamilton_clip.mp4", media_dir / "two_people.jpg", media_dir / "bbt1.jpg", collage,
            *footage_clips]


@pytest.fixture(scope="module")
def predicted(good_inputs) -> dict[str, list[dict]]:
    """`app.py predict --json` on the good inputs: input -> its records (one per frame)."""
    result = subprocess.run([sys.executable, str(REPO / "app.py"), "predict", *map(str, good_inputs), "--json",
                             "--max-frames", str(FRAMES)], cwd=REPO, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    records: dict[str, list[dict]] = {}
    for record in json_lines(result.stdout):
        records.setdefault(record["input"], []).append(record)
    return records


@pytest.fixture(scope="module")
def local_run(good_inputs, bad_inputs, tmp_path_factory):
    """One batch run on a local Ray (2 workers) over the good and the bad inputs."""
    out = tmp_path_factory.mktemp("batch") / "out"
    temp_dir = short_temp_dir()
    result = run_batch(*good_inputs, *bad_inputs, "--out", out, "--workers", 2, "--max-frames", FRAMES,
                       "--segment-frames", SEGMENT, temp_dir=temp_dir)
    leftover = processes_holding(temp_dir)
    end_processes(leftover)
    return result, out, json_lines(result.stdout), leftover


def faces_table(out: Path, path: Path):
    return pq.read_table(out / (path.name + FACES_SUFFIX))


def assert_rows_match_predict(table, records: list[dict]) -> None:
    """Every frame: as many rows as predict's faces, in the same order, with the same boxes and labels."""
    rows = table.to_pylist()
    assert sorted({row["frame"] for row in rows}) == sorted({r.get("frame", 0) for r in records if r["faces"]})
    for record in records:
        frame_rows = [row for row in rows if row["frame"] == record.get("frame", 0)]
        assert len(frame_rows) == len(record["faces"]), record.get("frame")
        for row, face in zip(sorted(frame_rows, key=lambda row: row["face"]), record["faces"]):
            assert [row["x"], row["y"], row["w"], row["h"]] == face["box"]
            assert row["too_small"] is face["too_small"] and row["head_turned"] is face["head_turned"]
            assert row["mask"] == (face["mask"]["label"] if face["mask"] else None)
            if face["emotion"] is None:  # masked, head turned or too small: no expression, no probabilities
                assert row["emotion"] is None and all(row[f"p_{label}"] is None for label in EMOTIONS)
                continue
            assert row["emotion"] == face["emotion"]["label"]
            for label in EMOTIONS:
                assert row[f"p_{label}"] == pytest.approx(face["emotion"]["scores"][label], abs=1e-4)


def test_local_run_labels_every_face_of_every_frame_as_predict_does(local_run, good_inputs, predicted):
    result, out, _, _ = local_run
    assert "Ray started" in result.stderr, result.stderr[-3000:]
    for path in good_inputs:
        table = faces_table(out, path)
        assert table.schema.names == SCHEMA.names
        assert_rows_match_predict(table, predicted[str(path)])
        assert table.num_rows > 0, path
    clip = faces_table(out, good_inputs[0]).to_pylist()  # the Hamilton clip: faces in profile, heads on hands
    assert any(row["head_turned"] for row in clip) and all(row["emotion"] is None for row in clip if row["head_turned"])
    collage = faces_table(out, good_inputs[3]).to_pylist()
    assert any(row["too_small"] for row in collage) and not all(row["too_small"] for row in collage)
    masked = faces_table(out, good_inputs[-1]).to_pylist()
    assert any(row["mask"] == "with_mask" for row in masked)
    assert all(row["emotion"] is None for row in masked if row["mask"] == "with_mask")


def test_tracks_are_stitched_across_segment_borders_as_one_pass_would_track(local_run, good_inputs, footage_clips):
    """The clips were cut into segments of SEGMENT frames; one tracker over the whole clip gives the same ids."""
    from core.pipeline import FacePipeline
    from core.tracking import FaceTracker

    _, out, _, _ = local_run
    pipeline = FacePipeline()
    for path in [good_inputs[0], *footage_clips]:
        rows = faces_table(out, path).to_pylist()
        one_pass = [(index, face_number + 1, track) for index, result in
                    pipeline.run_video(path, FaceTracker(), None, FRAMES)
                    for face_number, track in enumerate(result.track_ids)]
        assert [(row["frame"], row["face"], row["track"]) for row in rows] == one_pass, path
    tracks = [row["track"] for row in faces_table(out, good_inputs[0]).to_pylist()]
    assert None in tracks  # the first frames of a track, before it is confirmed
    assert len(set(tracks) - {None}) > 1  # several people


def test_a_file_or_segment_without_faces_is_stitched_to_an_empty_table():
    from batch.stitch import stitch_segments

    assert stitch_segments([(0, SCHEMA.empty_table())]).equals(SCHEMA.empty_table())


def test_each_finished_file_has_a_summary_a_plot_and_a_json_line(local_run, good_inputs, predicted):
    import cv2

    from core.video import video_info

    _, out, records, _ = local_run
    finished = {record["input"]: record for record in records if "error" not in record}
    assert set(finished) == {str(path) for path in good_inputs}
    for path in good_inputs:
        record = finished[str(path)]
        expected_faces = sum(len(r["faces"]) for r in predicted[str(path)])
        assert record["faces"] == expected_faces and record["frames"] == len(predicted[str(path)])
        with open(out / (path.name + SUMMARY_SUFFIX), newline="") as handle:
            rows = list(csv.DictReader(handle))
        whole = rows[0]
        assert whole["person"] == "all" and int(whole["faces"]) == expected_faces
        assert int(whole["people"]) == len(rows) - 1 == record["people"]
        faces = faces_table(out, path).to_pylist()
        video = path.suffix in (".mp4", ".mkv")
        people_faces = [face for face in faces if face["track"] is not None or not video]  # a video: confirmed tracks
        assert sum(int(row["faces"]) for row in rows[1:]) == len(people_faces) > 0
        judged = [face for face in faces if face["mask"] is not None]  # too small: no mask label, not counted
        assert float(whole["unmasked_share"]) == pytest.approx(
            sum(face["mask"] == "without_mask" for face in judged) / len(judged), abs=1e-4)
        if video:
            fps = video_info(path)[0]
            assert int(whole["frames"]) == FRAMES and float(whole["duration_s"]) == record["duration_s"] > 1
            assert float(whole["seen_s"]) == pytest.approx(len(faces) / fps, abs=0.01) and float(whole["seen_s"]) > 0
            seconds = sum(float(whole[f"{label}_s"]) for label in EMOTIONS)  # masked faces show no expression
            assert seconds == pytest.approx(sum(face["emotion"] is not None for face in faces) / fps, abs=0.05)
        plot = cv2.imread(str(out / (path.name + PLOT_SUFFIX)))
        assert plot is not None and plot.shape[0] > 200 and plot.std() > 5  # a real picture, not a blank one
    with open(out / (good_inputs[-1].name + SUMMARY_SUFFIX), newline="") as handle:
        masked = next(csv.DictReader(handle))
    assert float(masked["unmasked_share"]) < 0.5  # the masked clip: most of its faces shown with a mask
    assert sum(float(masked[f"{label}_s"]) for label in EMOTIONS) < float(masked["seen_s"])  # and no expression
    with open(out / (good_inputs[3].name + SUMMARY_SUFFIX), newline="") as handle:
        collage = list(csv.DictReader(handle))
    assert float(collage[0]["unmasked_share"]) == 1.0  # nobody in it wears a mask; the faces too small are not counted
    assert any(row["unmasked_share"] == "" for row in collage[1:])  # a face too small to judge


def test_unreadable_inputs_are_listed_and_the_run_completes(local_run, bad_inputs, good_inputs):
    result, out, records, _ = local_run
    assert result.returncode == 1, result.stderr[-3000:]
    errors = {record["input"]: record["error"] for record in records if "error" in record}
    with open(out / FAILURES_FILE, newline="") as handle:
        listed = {row["input"]: row["reason"] for row in csv.DictReader(handle)}
    assert listed == errors
    assert "not an image" in listed[str(bad_inputs[0])]
    assert "cannot be opened as a video" in listed[str(bad_inputs[1])]
    assert all((out / (path.name + SUMMARY_SUFFIX)).is_file() for path in good_inputs)
    assert not (out / PARTS_DIR).exists() and not list(out.glob("partial-*"))


def test_local_ray_leaves_no_process_behind(local_run):
    *_, leftover = local_run
    assert leftover == []


def test_read_frames_from_a_start_frame_gives_the_frames_of_one_pass(media_dir, footage_clips):
    from core.video import read_frames

    for path in [media_dir / "short_hamilton_clip.mp4", footage_clips[0]]:
        frames = dict(read_frames(path, 60))
        for start in (1, 23, 47):
            got = list(read_frames(path, start + 5, start))
            assert [index for index, _ in got] == list(range(start, start + 5))
            assert all(np.array_equal(frame, frames[index]) for index, frame in got), (path, start)
        assert list(read_frames(path, None, 10**6)) == []  # past the end: nothing, no error


def test_a_killed_run_continues_where_it_stopped(media_dir, tmp_path):
    """Killed (SIGKILL) after its first finished file; the same command again finishes the others, redoing none."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(RESUME_CLIPS):
        (inputs / f"clip{i}.mp4").symlink_to(media_dir / "short_hamilton_clip.mp4")
    out, temp_dir = tmp_path / "out", short_temp_dir()
    args = [inputs, "--out", out, "--workers", 2, "--max-frames", 3 * SEGMENT, "--segment-frames", SEGMENT]
    with open(tmp_path / "first.out", "w") as stdout:
        process = subprocess.Popen(batch_command(*args), cwd=REPO, stdout=stdout, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "TMPDIR": str(temp_dir)})
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not (tmp_path / "first.out").read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        process.kill()
        process.wait()
    end_processes(processes_holding(temp_dir))
    first = json_lines((tmp_path / "first.out").read_text())
    assert len(first) >= 1
    for record in first:  # a file said finished is whole
        assert pq.read_table(record["faces_table"]).num_rows == record["faces"]
    assert len(first) < RESUME_CLIPS, "the run finished before it could be killed; nothing was left to resume"

    second = run_batch(*args, temp_dir=short_temp_dir())
    assert second.returncode == 0, second.stderr[-3000:]
    redone = json_lines(second.stdout)
    assert {r["input"] for r in first}.isdisjoint(r["input"] for r in redone)  # no file done twice
    assert {r["input"] for r in first} | {r["input"] for r in redone} == {str(p) for p in sorted(inputs.iterdir())}
    reference = faces_table(out, inputs / "clip0.mp4")
    for i in range(RESUME_CLIPS):
        path = inputs / f"clip{i}.mp4"
        assert faces_table(out, path).drop(["file"]).equals(reference.drop(["file"]))  # the same, killed or not
        assert all(not temporary_path(out / (path.name + suffix)).exists()
                   for suffix in (FACES_SUFFIX, PLOT_SUFFIX, SUMMARY_SUFFIX))
    assert not (out / PARTS_DIR).exists()  # no partial file left


@pytest.fixture(scope="module")
def ray_cluster():
    """`ray start --head` on 127.0.0.1 with a token of its own, stopped at the end: (its address, its environment)."""
    temp_dir, port = short_temp_dir(), free_port()
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}  # stopped when its jobs are over: nothing to drain
    ray = Path(sys.executable).parent / "ray"
    log_path = temp_dir / "ray-start.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(ray), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
                                    "--object-store-memory", str(128 << 20), "--include-dashboard", "false",
                                    "--disable-usage-stats", "--temp-dir", str(temp_dir)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + CLUSTER_START_TIMEOUT_S
    while RAY_STARTED not in log_path.read_text() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    if RAY_STARTED not in log_path.read_text():
        process.terminate()
        process.wait(timeout=60)
        skip_or_fail(f"`ray start --head` did not start: {log_path.read_text()[-2000:]}")
    try:
        yield f"127.0.0.1:{port}", env, temp_dir
    finally:
        process.terminate()  # --block: ray start stops the processes it started
        process.wait(timeout=120)
        end_processes(processes_holding(temp_dir))


def test_address_runs_on_a_cluster_started_with_ray_start(ray_cluster, good_inputs, predicted, tmp_path):
    address, env, cluster_dir = ray_cluster
    out = tmp_path / "out"
    inputs = [good_inputs[0], good_inputs[1]]
    result = run_batch(*inputs, "--out", out, "--address", address, "--max-frames", FRAMES, "--segment-frames",
                       SEGMENT, temp_dir=short_temp_dir(), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Ray joined at {address}" in result.stderr
    assert sorted(r["input"] for r in json_lines(result.stdout)) == sorted(str(p) for p in inputs)
    for path in inputs:
        assert_rows_match_predict(faces_table(out, path), predicted[str(path)])
    deadline = time.monotonic() + 30
    while labellers(cluster_dir) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert labellers(cluster_dir) == []  # the job's workers are gone with the job; the cluster stays up


def labellers(cluster_dir: Path) -> list[int]:
    """The cluster's batch workers (Ray names its processes after the actor's class)."""
    found = []
    for pid in processes_holding(cluster_dir):
        try:
            if "SegmentLabeller" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                found.append(pid)
        except OSError:
            continue
    return found


def test_a_ray_client_address_is_refused_with_the_reason(media_dir, tmp_path):
    result = run_batch(media_dir / "two_people.jpg", "--out", tmp_path / "out", "--address", "ray://127.0.0.1:10001",
                       temp_dir=short_temp_dir())
    assert result.returncode == 2
    assert "Ray Data does not run through Ray Client" in result.stderr and "Traceback" not in result.stderr
