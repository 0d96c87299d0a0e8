"""core.tracking.FaceTracker: one person, one track. A face missed for a few frames and two faces crossing keep their
ids; a detection that flickers, or a weak one on its own, is not a person; a face of another size after a cut is
another track; the assignment is optimal; web_static/js/tracking.js gives the same ids on the same frames; and on the
media clip the tracks are about as many as the people (bench/people_counts.json)."""

from __future__ import annotations

import json
import math
import random
import subprocess

import numpy as np
import pytest

from core.tracking import (
    HIGH_SCORE,
    MAX_MISSED_FRAMES,
    MAX_SIZE_CHANGE,
    MIN_TRACK_FRAMES,
    FaceTracker,
    best_pairs,
    tracking_metadata,
)
from tests.harness import REPO

SIDE = 80
STRONG, WEAK = 0.9, (0.5 + HIGH_SCORE) / 2  # the detector keeps scores >= 0.5


def ids_of(frames: list[dict]) -> list[list]:
    """The Python tracker's ids for frames of {"boxes", "scores"}."""
    tracker = FaceTracker()
    uniform = np.full((1, 7), 1 / 7, np.float32)
    return [tracker.update(frame["boxes"], np.repeat(uniform, len(frame["boxes"]), axis=0), None, frame["scores"])[0]
            for frame in frames]


def frame(*faces) -> dict:
    """faces: (box, score) pairs."""
    return {"boxes": [list(box) for box, _ in faces], "scores": [score for _, score in faces]}


def a_face_hidden_while_it_moves() -> list[dict]:
    """One face moving 6 px a frame, not detected for 10 frames (a hand, a missed detection), then found where its
    motion says (66 px on from where it was last seen: the last box itself overlaps the new one with IoU 0.1)."""
    hidden = range(15, 25)
    assert len(hidden) <= MAX_MISSED_FRAMES
    return [frame() if k in hidden else frame(([100 + 6 * k, 100, SIDE, SIDE], STRONG)) for k in range(40)]


def two_faces_crossing() -> list[dict]:
    """A walks right and B left, 8 px a frame, at the same height; while they overlap most (5 frames) only the
    front one, B, is detected. The detections come largest first, here in a shuffled order."""
    shuffle = random.Random(7)
    frames = []
    for k in range(50):
        a, b = [100 + 8 * k, 100, SIDE, SIDE], [500 - 8 * k, 104, SIDE, SIDE]
        faces = [(b, STRONG)] if abs(a[0] - b[0]) < SIDE / 2 else [(a, STRONG), (b, STRONG)]
        shuffle.shuffle(faces)
        frames.append(frame(*faces))
    return frames


def flickers_and_weak_faces() -> list[dict]:
    """A steady face whose detector score alternates between strong and weak; a strong false face for
    MIN_TRACK_FRAMES - 1 frames; a weak one (a sleeve, a blurred background) for 30 frames."""
    frames = []
    for k in range(30):
        faces = [([200, 200, SIDE, SIDE], STRONG if k % 2 else WEAK), ([400, 100, 40, 40], WEAK)]
        if 10 <= k < 10 + MIN_TRACK_FRAMES - 1:
            faces.append(([40, 300, 50, 50], STRONG))
        frames.append(frame(*faces))
    return frames


def a_cut_to_another_face() -> list[dict]:
    """The media clip's third cut: the performer's face, then, in the same place, a face 1.5 times smaller."""
    assert 99 / 66 > MAX_SIZE_CHANGE
    return [frame(([260, 49, 99, 98] if k < 20 else [307, 54, 66, 66], STRONG)) for k in range(40)]


def a_crowd_jittering(seed: int = 3) -> list[dict]:
    """Eight faces wandering with jittering boxes and sizes, some crossing, each missed now and then, with
    scores on both sides of HIGH_SCORE: many conflicting pairs for the assignment (the twin test)."""
    rng = random.Random(seed)
    faces = [[rng.uniform(0, 600), rng.uniform(0, 400), rng.uniform(40, 90), rng.uniform(-6, 6), rng.uniform(-4, 4)]
             for _ in range(8)]
    frames = []
    for _ in range(200):
        found = []
        for face in faces:
            face[0] += face[3] + rng.gauss(0, 2)
            face[1] += face[4] + rng.gauss(0, 2)
            if rng.random() < 0.85:
                side = face[2] * rng.uniform(0.9, 1.1)
                found.append(([round(face[0], 1), round(face[1], 1), round(side, 1), round(side, 1)],
                              round(rng.uniform(0.5, 1.0), 4)))
        found.sort(key=lambda item: -item[0][2])
        frames.append(frame(*found))
    return frames


def test_a_face_missed_for_a_few_frames_keeps_its_track():
    ids = ids_of(a_face_hidden_while_it_moves())
    assert ids[:MIN_TRACK_FRAMES - 1] == [[None]] * (MIN_TRACK_FRAMES - 1)  # not a person yet
    assert {i for frame_ids in ids[MIN_TRACK_FRAMES - 1:] for i in frame_ids} == {1}


def test_two_faces_crossing_keep_their_ids():
    frames = two_faces_crossing()
    ids = ids_of(frames)
    right, left = set(), set()  # the ids of the face walking right, of the one walking left
    for k in range(MIN_TRACK_FRAMES - 1, len(frames)):
        for box, track in zip(frames[k]["boxes"], ids[k]):
            (right if box[1] == 100 else left).add(track)
    assert len(right) == len(left) == 1 and right != left and None not in right | left, (right, left)


def test_flickers_and_weak_faces_on_their_own_are_not_people():
    ids = ids_of(flickers_and_weak_faces())
    assert {frame_ids[0] for frame_ids in ids[MIN_TRACK_FRAMES:]} == {1}  # weak detections continue its track
    assert all(frame_ids[1:] == [None] * (len(frame_ids) - 1) for frame_ids in ids)  # never a track id


def test_a_face_of_another_size_after_a_cut_is_another_track():
    ids = ids_of(a_cut_to_another_face())
    assert ids[19] == [1] and ids[-1] == [2]


def test_the_assignment_is_the_optimal_one():
    """best_pairs against scipy's linear_sum_assignment (scipy comes with scikit-image) on random gain matrices,
    zeros (impossible pairs) included."""
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(0)
    for _ in range(500):
        rows, cols = rng.integers(1, 8, size=2)
        gains = rng.random((rows, cols)) * (rng.random((rows, cols)) < 0.6)
        pairs = best_pairs(gains.tolist())
        assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == len(pairs)
        assert all(gains[r, c] > 0 for r, c in pairs)
        best_rows, best_cols = linear_sum_assignment(gains, maximize=True)
        assert sum(gains[r, c] for r, c in pairs) == pytest.approx(gains[best_rows, best_cols].sum(), abs=1e-12)


def with_probabilities(frames: list[dict], seed: int) -> list[dict]:
    """The frames with random expression and mask probabilities per face, and a third of the faces in profile."""
    rng = np.random.default_rng(seed)
    return [frame | {"emotion": rng.dirichlet(np.ones(7), len(frame["boxes"])).round(6).tolist(),
                     "mask": rng.dirichlet(np.ones(2), len(frame["boxes"])).round(6).tolist(),
                     "profiles": (rng.random(len(frame["boxes"])) < 1 / 3).tolist()} for frame in frames]


def test_browser_twin_gives_the_same_ids_and_smoothed_probabilities(node, tmp_path):
    """web_static/js/tracking.js (constants from the committed index.json) on the same frames: the same ids and the
    same probabilities averaged over frames, the misses, crossings, flickers, cut and a jittering crowd included."""
    pipeline = json.loads((REPO / "web_static" / "models" / "index.json").read_text())["pipeline"]
    assert pipeline["tracking"] == tracking_metadata()
    sequences = [a_face_hidden_while_it_moves(), two_faces_crossing(), flickers_and_weak_faces(),
                 a_cut_to_another_face(), a_crowd_jittering(3), a_crowd_jittering(4)]
    sequences = [with_probabilities(sequence, seed) for seed, sequence in enumerate(sequences)]
    (tmp_path / "job.json").write_text(json.dumps({"tracking": pipeline["tracking"], "sequences": sequences}))
    done = subprocess.run([node, str(REPO / "tests" / "js" / "tracking_dump.mjs"), str(tmp_path / "job.json")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    browser = json.loads(done.stdout)
    smoothed = 0
    for sequence, browser_frames in zip(sequences, browser):
        assert [f["ids"] for f in browser_frames] == ids_of(sequence)
        tracker = FaceTracker()
        for frame, got in zip(sequence, browser_frames):
            _, emotion, mask = tracker.update(frame["boxes"], np.array(frame["emotion"], np.float32).reshape(-1, 7),
                                              np.array(frame["mask"], np.float32).reshape(-1, 2), frame["scores"],
                                              frame["profiles"])
            np.testing.assert_allclose(np.array(got["emotion"]).reshape(-1, 7), emotion, atol=1e-5)
            np.testing.assert_allclose(np.array(got["mask"]).reshape(-1, 2), mask, atol=1e-5)
            smoothed += int(np.abs(emotion - np.array(frame["emotion"]).reshape(-1, 7)).max(initial=0) > 0.01)
    assert smoothed > 20  # the averages differ from the frames' own probabilities: the test compares smoothing
    crowd = {i for f in browser[4] for i in f["ids"] if i is not None}
    assert 8 <= len(crowd) < 16  # the crowd is hard: tracks break, but it is matched, not one track a frame


def test_media_clip_gives_about_one_track_per_person(media_dir):
    """The real pipeline and tracker over the media clip (7 people, one of them in 3 shots:
    bench/people_counts.json): at most 10 tracks (the IoU tracker before this one made 19, 8 of them under 5 frames
    long), none of them running across a shot cut (there it would follow another person)."""
    from core.pipeline import FacePipeline
    from core.video import read_frames

    clip = media_dir / "short_hamilton_clip.mp4"
    truth = json.loads((REPO / "bench" / "people_counts.json").read_text())["media/short_hamilton_clip.mp4"]
    pipeline, tracker = FacePipeline(), FaceTracker()
    frames_of: dict[int, list[int]] = {}
    for index, image in read_frames(clip):
        for track in pipeline.process(image, tracker).track_ids:
            if track is not None:
                frames_of.setdefault(track, []).append(index)
    assert truth["people"] <= len(frames_of) <= 10, {track: len(seen) for track, seen in frames_of.items()}
    shots = [0, *truth["shots"], math.inf]
    for track, seen in frames_of.items():
        shot = [s for s in range(len(shots) - 1) if shots[s] <= seen[0] < shots[s + 1]][0]
        assert seen[-1] < shots[shot + 1], f"track {track} runs across the cut at frame {shots[shot + 1]}"


def test_the_bench_counts_restarts_and_tracks_across_cuts():
    """bench/tracking_people.py's ID switches: a track starting where another just ended is a restart (not across a
    cut, nor far away, nor long after); a track seen on both sides of a cut ran across it."""
    from bench.tracking_people import RESTART_FRAMES, id_switches

    box = [100, 100, 50, 50]
    spans = {1: (0, box, 40, box), 2: (45, [120, 110, 50, 50], 90, box),  # a restart
             3: (0, [400, 100, 50, 50], 60, [400, 100, 50, 50]), 4: (65, [400, 300, 50, 50], 99, box),  # far: none
             5: (95, box, 99, box)}  # 2 ends at 90: 5 starts 5 frames later across the cut at 93: none
    assert id_switches(spans, cuts=[93]) == {"restarts": 1, "across_cuts": 1}  # 4 runs across the cut
    late = {1: (0, box, 10, box), 2: (11 + RESTART_FRAMES, box, 50, box)}
    assert id_switches(late, cuts=[]) == {"restarts": 0, "across_cuts": 0}


def test_browser_pipeline_alternates_the_tta_views_as_python_does(node):
    """pipeline.js `ttaView` against core.pipeline.tta_view over the frames of a tracker: the same view per frame."""
    from core.pipeline import pipeline_metadata, tta_view

    constants = pipeline_metadata()
    script = f"""
        import {{FacePipeline}} from './web_static/js/pipeline.js';
        import {{FaceTracker}} from './web_static/js/tracking.js';
        const constants = {json.dumps(constants)};
        const pipeline = new FacePipeline(null, null, null, constants);
        const views = [pipeline.ttaView(null), pipeline.ttaView(new FaceTracker(constants.tracking, 0))];
        const tracker = new FaceTracker(constants.tracking);
        for (let i = 0; i < 4; i++) {{
          views.push(pipeline.ttaView(tracker));
          tracker.update([[10, 10, 50, 50]], [[1, 0, 0, 0, 0, 0, 0]], null, [0.9]);
        }}
        process.stdout.write(JSON.stringify(views));
    """
    done = subprocess.run([node, "--input-type=module", "-e", script], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    tracker = FaceTracker()
    expected = [tta_view(None), tta_view(FaceTracker(smoothing=0.0))]
    for _ in range(4):
        expected.append(tta_view(tracker))
        tracker.update([[10, 10, 50, 50]], np.eye(7, dtype=np.float32)[:1], None, [0.9])
    assert json.loads(done.stdout) == expected == [None, None, "original", "mirrored", "original", "mirrored"]


def test_in_profile_is_the_nose_beyond_an_eye_in_python_and_the_browser(node):
    from core.tracking import PROFILE_NOSE_OFFSET, in_profile

    eyes = [[40, 50], [60, 50]]  # 20 px apart, midpoint x = 50
    cases = [
        (eyes + [[50, 60]], False),  # nose below the midpoint: frontal
        (eyes + [[50 + 20 * PROFILE_NOSE_OFFSET - 1, 60]], False),
        (eyes + [[50 + 20 * PROFILE_NOSE_OFFSET, 60]], True),  # at the left eye: profile
        (eyes + [[35, 62]], True),  # beyond the right eye
        ([[40, 50], [50, 60], [42, 58]], False),  # the eye line at 45 degrees, the nose near its perpendicular
        ([[40, 50], [50, 60], [53, 63]], True),  # ... and the nose far along it
        ([[40, 50], [40, 50], [41, 60]], True),  # eyes on one point: a profile the detector collapsed
    ]
    assert [in_profile(points) for points, _ in cases] == [expected for _, expected in cases]
    script = f"""
        import {{inProfile}} from './web_static/js/tracking.js';
        const cases = {json.dumps([points for points, _ in cases])};
        process.stdout.write(JSON.stringify(cases.map(points => inProfile(points, {PROFILE_NOSE_OFFSET}))));
    """
    done = subprocess.run([node, "--input-type=module", "-e", script], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == [expected for _, expected in cases]


def test_profile_views_keep_the_mask_average_of_a_track_seen_from_the_front():
    """A masked face walks, frontal for 10 frames, then in profile for 20 where the network calls it bare at 0.6: the
    track stays masked. The control without profiles flips to bare; a track seen only in profile averages its views."""
    boxes = [[[100 + 4 * k, 100, SIDE, SIDE]] for k in range(30)]
    emotion = np.full((1, 7), 1 / 7, np.float32)
    masked, bare_ish = np.array([[0.9, 0.1]], np.float32), np.array([[0.4, 0.6]], np.float32)  # (with, without)

    def last_mask(profile_from: int, with_profiles: bool):
        tracker, mask = FaceTracker(), None
        for k, frame_boxes in enumerate(boxes):
            probs = masked if k < profile_from else bare_ish
            profiles = [k >= profile_from] if with_profiles else None
            _, _, mask = tracker.update(frame_boxes, emotion, probs, [STRONG], profiles)
        return mask[0]

    assert np.allclose(last_mask(10, True), masked[0])  # the average of the frontal views, as they left it
    flipped = last_mask(10, False)
    assert flipped[1] > flipped[0]  # the control: without the rule the label goes over to bare
    only_profile = last_mask(0, True)
    assert only_profile[1] > only_profile[0]  # never seen from the front: its profile views count
