"""core.session.LiveSession: samples per tracked face, time per expression, faces seen, alerts with a minimum
duration (once per face), the session CSV, reset. Fed with the pipeline's real face shape; the browser twin
(web_static/js/session.js) is checked against it in tests/test_web_session.py."""

import csv
import io

import numpy as np
import pytest

from core.labels import EMOTIONS, MASK_LABELS
from core.session import ALERT_AFTER_S, MAX_GAP_S, SAMPLE_EVERY_S, LiveSession, alert_line, csv_header, session_metadata


def face(expression: str, mask: str | None, too_small: bool = False) -> dict:
    """A face as core.pipeline reports it: a masked face has no expression; a face too small to judge has neither."""
    scores = {label: (0.7 if label == expression else 0.05) for label in EMOTIONS}
    emotion = None if mask == MASK_LABELS[0] or too_small else {"label": expression, "scores": scores}
    return {"box": [0, 0, 10, 10], "score": 0.9, "emotion": emotion,
            "mask": None if mask is None or too_small else {"label": mask, "score": 0.9}, "too_small": too_small}


def feed(session, seconds, step, tracks):
    """Frames every `step` s from 0 to `seconds`: tracks = {track id: (expression, mask)}."""
    raised = []
    for now in np.arange(0, seconds + 1e-9, step):
        raised += session.add(float(now), list(tracks), [face(*value) for value in tracks.values()])
    return raised


def test_unmasked_for_the_minimum_duration_raises_one_alert_per_face():
    session = LiveSession(EMOTIONS)
    raised = feed(session, 6.0, 0.05, {1: ("happy", "without_mask"), 2: ("sad", "with_mask")})
    assert [alert["track"] for alert in raised] == [1]  # once, for the unmasked face only, though seen for 6 s
    assert raised[0]["time_s"] == pytest.approx(ALERT_AFTER_S, abs=SAMPLE_EVERY_S)
    assert "track 1 unmasked for \u2265 2 s" == raised[0]["text"]
    assert session.summary()["faces"] == 2 and session.summary()["unmasked_faces"] == 1


def test_flickering_mask_never_reaches_the_minimum_duration():
    session = LiveSession(EMOTIONS, alert_after_s=2.0)
    for i, now in enumerate(np.arange(0, 10, 0.25)):
        mask = "without_mask" if i % 6 else "with_mask"  # 1.25 s unmasked, then one masked sample
        assert session.add(float(now), [7], [face("neutral", mask)]) == []
    assert session.summary()["unmasked_faces"] == 1 and session.alerts == []
    # the duration is a setting
    shorter = LiveSession(EMOTIONS, alert_after_s=1.0)
    for i, now in enumerate(np.arange(0, 10, 0.25)):
        shorter.add(float(now), [7], [face("neutral", "without_mask" if i % 6 else "with_mask")])
    assert [alert["track"] for alert in shorter.alerts] == [7]


def test_samples_time_per_expression_csv_and_reset():
    session = LiveSession(EMOTIONS)
    feed(session, 2.0, 0.05, {3: ("happy", None)})
    feed_start = session.last_sample
    for now in np.arange(feed_start + 0.05, feed_start + 3.0, 0.05):  # then 3 s of surprise with a second face
        session.add(float(now), [3, 4], [face("surprise", None), face("fear", None)])
    summary = session.summary()
    # the interval up to the first surprise sample still goes to happy (the change is seen only then)
    assert summary["seconds"]["happy"] == pytest.approx(2.0 + SAMPLE_EVERY_S, abs=SAMPLE_EVERY_S)
    both = [row[0] for row in session.rows if row[1] == 4]  # samples with the second face
    assert summary["seconds"]["surprise"] == summary["seconds"]["fear"] == pytest.approx(both[-1] - both[0], abs=0.01)
    assert summary["faces"] == 2 and summary["unmasked_faces"] == 0

    rows = list(csv.DictReader(io.StringIO(session.csv_text())))
    assert list(rows[0]) == csv_header(EMOTIONS)
    times = sorted({row["time_s"] for row in rows})
    assert len(times) == session.samples == summary["samples"]
    steps = np.diff([float(t) for t in times])
    assert steps.min() >= SAMPLE_EVERY_S - 1e-6  # at most one sample per SAMPLE_EVERY_S
    for t in times:  # one row per tracked face per sample
        tracks = [row["track"] for row in rows if row["time_s"] == t]
        assert len(tracks) == len(set(tracks)) and set(tracks) <= {"3", "4"}
    assert {row["mask"] for row in rows} == {""}
    assert float(rows[0]["p_happy"]) == 0.7 and rows[0]["expression"] == "happy"
    timeline = session.timeline()
    assert len(timeline) == len(rows) and timeline[-1][3] == 0.7

    session.reset()
    assert session.summary() == {"faces": 0, "unmasked_faces": 0, "frames": 0, "duration_s": 0.0, "samples": 0,
                                 "rows": 0, "seconds": {label: 0.0 for label in EMOTIONS}, "per_face": [], "alerts": []}
    assert session.csv_text().strip() == ",".join(csv_header(EMOTIONS))


def test_a_face_that_left_is_not_credited_for_its_absence():
    session = LiveSession(EMOTIONS)
    session.add(0.0, [1], [face("happy", "without_mask")])
    session.add(1.5, [1], [face("happy", "without_mask")])  # gap > MAX_GAP_S: neither time nor unmasked duration
    session.add(2.0, [1], [face("happy", "without_mask")])
    assert 1.5 > MAX_GAP_S and session.summary()["seconds"]["happy"] == pytest.approx(0.5)
    assert session.alerts == []


def test_frames_without_tracked_faces_add_nothing_and_constants_are_exported():
    session = LiveSession(EMOTIONS)
    assert session.add(0.0, [], []) == [] and session.samples == 0 and session.frames == 1  # analysed, no sample
    meta = session_metadata()
    assert meta["unmasked_label"] == MASK_LABELS[1] and meta["alert_after_s"] == ALERT_AFTER_S
    assert meta["alert_text"].format(track=1, seconds=2) == "track 1 unmasked for \u2265 2 s"


def test_masked_faces_get_no_expression_time_and_small_faces_are_not_counted():
    session = LiveSession(EMOTIONS)
    feed(session, 3.0, 0.05, {1: ("sad", "with_mask"), 2: ("happy", "without_mask"), 3: ("happy", "without_mask", True)})
    summary = session.summary()
    assert summary["faces"] == 2 and summary["unmasked_faces"] == 1  # the small face is neither seen nor unmasked
    assert summary["seconds"]["sad"] == 0 and summary["seconds"]["happy"] == pytest.approx(3.0, abs=SAMPLE_EVERY_S)
    assert [alert["track"] for alert in session.alerts] == [2]
    rows = list(csv.DictReader(io.StringIO(session.csv_text())))
    masked = [row for row in rows if row["track"] == "1"]
    assert masked and all(row["expression"] == "" and row["p_sad"] == "" and row["mask"] == "with_mask" for row in masked)
    assert {row["track"] for row in rows} == {"1", "2"}
    assert {track for _, track, _, _ in session.timeline()} == {2}  # the timeline shows readable expressions only


def test_a_face_without_a_confirmed_track_is_not_counted():
    """The tracker gives a face no id (None) until its track has been seen in a few frames (core.tracking): such a
    face is neither a face seen nor a row, as a flicker of the detector is no person."""
    session = LiveSession(EMOTIONS)
    for i, now in enumerate(np.arange(0, 1.0, 0.05)):
        session.add(float(now), [None, 1 if i >= 4 else None], [face("happy", "without_mask")] * 2)
    assert session.summary()["faces"] == 1 and {row[1] for row in session.rows} == {1}


def frames_with_faces_coming_and_going() -> list[dict]:
    """12 s at 20 frames/s: face A (unmasked from 1 s, masked 5-5.5 s), face B (masked, moving, leaves at 6 s),
    face C (unmasked, appears at 7 s), face D (too small to judge, 2-9 s); expressions change over time."""
    frames = []
    for i in range(240):
        now = round(i * 0.05, 3)
        faces = []
        a_mask = "without_mask" if now >= 1.0 and not 5.0 <= now < 5.5 else "with_mask"
        faces.append(face(EMOTIONS[int(now) % 7], a_mask) | {"box": [40, 40, 100, 120]})
        if now < 6.0:
            faces.append(face("happy" if now < 3 else "surprise", "with_mask") | {"box": [300 + int(now * 5), 60, 90, 110]})
        if now >= 7.0:
            faces.append(face("neutral", "without_mask") | {"box": [500, 200, 80, 100]})
        if 2.0 <= now < 9.0:
            faces.append(face("fear", "without_mask", too_small=True) | {"box": [600, 20, 16, 18]})
        frames.append({"now": now, "faces": faces})
    return frames


def test_browser_twin_tracks_and_summarises_the_same_session(node, tmp_path):
    """web_static/js/tracking.js + session.js (in Node, constants from the committed index.json) against
    core.tracking + core.session on the same frames: same track ids, alerts, summary and CSV."""
    import json
    import subprocess

    from core.tracking import FaceTracker
    from tests.harness import REPO

    pipeline = json.loads((REPO / "web_static" / "models" / "index.json").read_text())["pipeline"]
    frames = frames_with_faces_coming_and_going()
    tracker, session = FaceTracker(), LiveSession(EMOTIONS, alert_after_s=1.5)
    ids, alerts = [], []
    for frame in frames:
        probs = np.array([[f["emotion"]["scores"][label] if f["emotion"] else 1 / len(EMOTIONS) for label in EMOTIONS]
                          for f in frame["faces"]])
        frame_ids, _, _ = tracker.update([f["box"] for f in frame["faces"]], probs, None,
                                         [f["score"] for f in frame["faces"]])
        ids.append(frame_ids)
        alerts.append(session.add(frame["now"], frame_ids, frame["faces"]))
    # A after 1.5 s, C (track 4); never B (masked) nor D (track 3, too small to judge)
    assert [a["track"] for frame_alerts in alerts for a in frame_alerts] == [1, 4]

    job = {"labels": list(EMOTIONS), "pipeline": pipeline, "alert_after_s": 1.5, "frames": frames}
    (tmp_path / "job.json").write_text(json.dumps(job))
    done = subprocess.run([node, str(REPO / "tests" / "js" / "session_dump.mjs"), str(tmp_path / "job.json")],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    browser = json.loads(done.stdout)
    assert browser["ids"] == ids
    assert browser["alerts"] == alerts
    assert browser["summary"] == session.summary()
    assert browser["summaryText"] == session.summary_text() and "per tracked face: track 1: " in session.summary_text()
    assert browser["alertLines"] == [alert_line(alert) for alert in session.alerts]

    def parsed(text):
        rows = list(csv.reader(io.StringIO(text)))
        return rows[0], [[float(v) if v.replace(".", "").isdigit() else v for v in row] for row in rows[1:]]

    assert parsed(browser["csv"]) == parsed(session.csv_text())


def test_the_session_record_stays_small():
    """An hour of three faces at 4 samples/s (43,200 rows) in under 5 MB: the record is kept for the CSV as long as
    the session lasts, so its size per row is what a long stream's memory grows by (a list of Python objects per row
    took 7.3 MB here, with the scores shared between frames; 15 MB an hour with new ones)."""
    import tracemalloc

    session = LiveSession(EMOTIONS)
    faces = [face(label, mask) for label, mask in (("happy", "without_mask"), ("sad", "without_mask"), ("fear", None))]
    frames = [[{**f, "emotion": {**f["emotion"], "scores": {k: round(v + 0.001 * i, 4) for k, v in f["emotion"]["scores"].items()}}}
               for f in faces] for i in range(50)]  # new score objects, as the pipeline makes every frame
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(3600 * 4):
        session.add(i * SAMPLE_EVERY_S, [1, 2, 3], frames[i % 50])
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(session.rows) == 43_200
    assert grown < 5e6, f"{grown / 1e6:.1f} MB for 43,200 rows"
    assert session.rows[-1][2:4] == ["fear", frames[-1][2]["emotion"]["scores"]["angry"]]


def test_times_count_from_the_first_analysed_frame_and_expression_time_is_per_face():
    """The session starts with its first analysed frame, face or not: an alert 1 s into the session after 2 s of
    empty frames is at 3 s (both UIs list it so). Two faces happy for 3 s are 3 s each, not 6 s summed."""
    session = LiveSession(EMOTIONS, alert_after_s=1.0)
    for now in np.arange(10.0, 12.0, 0.05):  # 2 s of frames without a face
        session.add(float(now), [], [])
    for now in np.arange(12.0, 15.0 + 1e-9, 0.05):
        session.add(float(now), [1, 2], [face("happy", "without_mask"), face("happy", "with_mask")])
    assert session.alerts[0]["time_s"] == pytest.approx(3.0, abs=SAMPLE_EVERY_S)
    assert alert_line(session.alerts[0]).endswith("s since the session started)")
    summary = session.summary()
    assert summary["frames"] == 101 and summary["duration_s"] == pytest.approx(5.0)
    assert summary["per_face"] == [{"track": 1, "seconds": {"happy": pytest.approx(3.0)}},
                                   {"track": 2, "seconds": {}}]  # face 2 masked: no readable expression
    text = session.summary_text()
    assert text == ("2 face(s) seen, 1 unmasked · 101 frames analysed in 5.0 s · time per expression, per tracked "
                    "face: track 1: happy 3.0 s; track 2: no readable expression")
