"""Live-session analytics: what happened over a webcam session, per tracked face, not only in this frame.

A `LiveSession` is fed every analysed frame (`add(now, track_ids, faces)`, faces in the CLI JSON shape of
core.pipeline, track ids from core.tracking.FaceTracker) and keeps, in memory only:

- samples: at most one per SAMPLE_EVERY_S seconds, one row per tracked face (time, track id, expression and its
  probabilities, mask label and score; never an image) -> `csv_text()`, the session CSV the user may download;
- time per expression: between two samples of the same face, the time goes to the expression of the earlier one
  (at most MAX_GAP_S: a face that left and came back is not credited for its absence);
- time per expression per face, and summed over faces;
- faces seen (distinct track ids) and how many of them were ever seen unmasked; a face too small to judge
  (`too_small`) is not counted at all, nor one without a track id yet (the tracker gives one only to a track seen in
  a few frames: core.tracking.MIN_TRACK_FRAMES), and a masked face (no readable expression) gets no expression time;
- alerts with a minimum duration: a face seen unmasked (mask label UNMASKED) in every sample for at least
  `alert_after_s` seconds raises one alert, once per face (a mask in between, or a gap above MAX_GAP_S, restarts
  the count; a face that already raised its alert never raises another).

Times count from the session's start: its first analysed frame, with or without a face (after `reset()`, the next
frame); `frames` counts the analysed frames. `summary_text()` says it in words a person reads (the same sentence in
both UIs). `reset()` clears it all. The Gradio webcam tab (demo/gradio_app.py) and the page (web_static/js/session.js,
the twin of this module) both use it; the constants reach the page through web_static/models/index.json ("pipeline" ->
"session", written by `python -m export`),
the label lists through the models' metadata.json.
"""

from __future__ import annotations

import bisect
import math
from array import array
from dataclasses import dataclass, field

from core.draw import expression_colors
from core.labels import MASK_LABELS

SAMPLE_EVERY_S = 0.25  # one sample (a row per tracked face) at most this often
ALERT_AFTER_S = 2.0  # default minimum duration unmasked before the alert (a setting in both UIs)
MAX_GAP_S = 1.0  # longer without a sample of a face: its time is not credited, its unmasked count restarts
MAX_ROWS = 200_000  # memory bound, 16 MB (about 14 h of one face at 4 samples/s); later samples count, not stored
TIMELINE_WINDOW_S = 60.0  # the timeline plot shows the last minute
TIMELINE_FACES = 20  # rows of the timeline (both UIs): the faces seen most recently
TIME_DECIMALS = 3
UNMASKED = MASK_LABELS[1]  # "without_mask"
ALERT_TEXT = "track {track} unmasked for \u2265 {seconds:g} s"  # "track 2": the "t2" on its box
SUMMARY_FACES = 5  # the summary sentence lists the time per expression of at most this many faces (most seen first)


def session_metadata() -> dict:
    """The constants web_static/js/session.js shares with this module (web_static/models/index.json, "pipeline" ->
    "session")."""
    return {
        "sample_every_s": SAMPLE_EVERY_S,
        "alert_after_s": ALERT_AFTER_S,
        "max_gap_s": MAX_GAP_S,
        "max_rows": MAX_ROWS,
        "timeline_window_s": TIMELINE_WINDOW_S,
        "timeline_faces": TIMELINE_FACES,
        "timeline_colors": expression_colors(),
        "time_decimals": TIME_DECIMALS,
        "unmasked_label": UNMASKED,
        "alert_text": ALERT_TEXT.replace("{seconds:g}", "{seconds}"),
        "summary_faces": SUMMARY_FACES,
    }


def tenths(value: float) -> str:
    """A time in seconds to one decimal, halves rounded up (as session.js: Python's and JS's own rounding differ)."""
    return f"{math.floor(value * 10 + 0.5) / 10:.1f}"


def alert_line(alert: dict) -> str:
    """One alert as the session panels list it."""
    return f"{alert['text']} (at {tenths(alert['time_s'])} s since the session started)"


def csv_header(emotion_labels) -> list[str]:
    return ["time_s", "track", "expression", *[f"p_{label}" for label in emotion_labels], "mask", "mask_score"]


@dataclass
class FaceRecord:
    first_s: float
    last_s: float
    expression: str | None  # None: not readable (a masked face)
    unmasked_since: float | None = None
    ever_unmasked: bool = False
    alerted: bool = False
    seconds: dict = field(default_factory=dict)  # expression -> seconds this face showed it


class SessionRows:
    """The session's samples, one row per tracked face, [time_s, track, expression, p_<label>..., mask, mask_score]
    (the CSV's columns), kept in typed columns: 83 bytes a row, where a list of Python objects took 352 (tracemalloc;
    at 3 faces, 4 samples/s: 0.06 MB a minute instead of 0.25, for as long as the session lasts)."""

    def __init__(self, emotion_labels):
        self.labels = list(emotion_labels)
        self.time_s, self.track, self.expression = array("d"), array("q"), array("B")
        self.scores, self.mask, self.mask_score = array("d"), array("b"), array("d")  # mask: -1 = none

    def __len__(self) -> int:
        return len(self.time_s)

    NO_EXPRESSION = 255  # in `expression`: not readable (a masked face); its scores are NaN, blank in the CSV

    def append(self, time_s: float, track: int, expression: str | None, scores: dict | None, mask: dict | None) -> None:
        self.time_s.append(time_s)
        self.track.append(track)
        self.expression.append(self.NO_EXPRESSION if expression is None else self.labels.index(expression))
        self.scores.extend(math.nan if scores is None else scores[label] for label in self.labels)
        self.mask.append(MASK_LABELS.index(mask["label"]) if mask else -1)
        self.mask_score.append(mask["score"] if mask else math.nan)

    def __getitem__(self, i: int) -> list:
        i = range(len(self))[i]
        n = len(self.labels)
        mask, expression = self.mask[i], self.expression[i]
        if expression == self.NO_EXPRESSION:
            label, scores = "", [""] * n
        else:
            label, scores = self.labels[expression], self.scores[i * n : (i + 1) * n]
        return [self.time_s[i], self.track[i], label, *scores,
                MASK_LABELS[mask] if mask >= 0 else "", self.mask_score[i] if mask >= 0 else ""]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def since(self, time_s: float) -> int:
        """Index of the first row at or after `time_s` (rows are in time order)."""
        return bisect.bisect_left(self.time_s, time_s)

    def expression_probability(self, i: int) -> float:
        return self.scores[i * len(self.labels) + self.expression[i]]


class LiveSession:
    """One webcam session's analytics (see the module docstring). Not thread-safe: one per stream."""

    def __init__(self, emotion_labels, alert_after_s: float = ALERT_AFTER_S, sample_every_s: float = SAMPLE_EVERY_S):
        self.emotion_labels = list(emotion_labels)
        self.alert_after_s = float(alert_after_s)
        self.sample_every_s = float(sample_every_s)
        self.reset()

    def reset(self) -> None:
        self.start: float | None = None  # the first analysed frame
        self.last_frame: float | None = None
        self.frames = 0  # analysed frames, with or without faces
        self.last_sample: float | None = None
        self.rows = SessionRows(self.emotion_labels)
        self.samples = 0
        self.faces: dict[int, FaceRecord] = {}
        self.seconds = {label: 0.0 for label in self.emotion_labels}
        self.alerts: list[dict] = []
        self.version = 0  # increases with every sample (the UIs redraw only when it changed)

    def add(self, now: float, track_ids, faces) -> list[dict]:
        """One analysed frame at time `now` (seconds, any clock). Returns the alerts it raised."""
        if self.start is None:
            self.start = now
        self.last_frame = now
        self.frames += 1
        if not len(track_ids):
            return []
        if self.last_sample is not None and now - self.last_sample < self.sample_every_s:
            return []
        self.last_sample = now
        t = round(now - self.start, TIME_DECIMALS)
        raised = []
        for track, face in zip(track_ids, faces):
            if track is None or face.get("too_small"):  # not a confirmed track yet; not judged
                continue
            track = int(track)
            expression = face["emotion"]["label"] if face["emotion"] else None
            record = self.faces.get(track)
            if record is None:
                record = self.faces[track] = FaceRecord(t, t, expression)
            else:
                gap = t - record.last_s
                if gap <= MAX_GAP_S:
                    if record.expression is not None:
                        self.seconds[record.expression] += gap
                        record.seconds[record.expression] = record.seconds.get(record.expression, 0.0) + gap
                else:
                    record.unmasked_since = None
                record.last_s, record.expression = t, expression
            mask = face.get("mask")
            if mask is not None and mask["label"] == UNMASKED:
                record.ever_unmasked = True
                if record.unmasked_since is None:
                    record.unmasked_since = t
                if not record.alerted and t - record.unmasked_since >= self.alert_after_s - 1e-9:
                    record.alerted = True
                    alert = {"time_s": t, "track": track,
                             "text": ALERT_TEXT.format(track=track, seconds=self.alert_after_s)}
                    self.alerts.append(alert)
                    raised.append(alert)
            else:
                record.unmasked_since = None
            if len(self.rows) < MAX_ROWS:
                self.rows.append(t, track, expression, face["emotion"]["scores"] if face["emotion"] else None, mask)
        self.samples += 1
        self.version += 1
        return raised

    def summary(self) -> dict:
        return {
            "faces": len(self.faces),
            "unmasked_faces": sum(record.ever_unmasked for record in self.faces.values()),
            "frames": self.frames,
            "duration_s": round(self.last_frame - self.start, 2) if self.frames else 0.0,
            "samples": self.samples,
            "rows": len(self.rows),
            "seconds": {label: round(value, 2) for label, value in self.seconds.items()},
            "per_face": self.per_face(),
            "alerts": list(self.alerts),
        }

    def per_face(self) -> list[dict]:
        """[{"track", "seconds": {expression: seconds > 0, most first}}] per face, the face seen longest first."""
        faces = []
        for track, record in self.faces.items():
            spent = sorted(((label, round(value, 2)) for label, value in record.seconds.items() if value > 0),
                           key=lambda item: (-item[1], self.emotion_labels.index(item[0])))
            faces.append({"track": track, "seconds": dict(spent)})
        return sorted(faces, key=lambda face: (-sum(face["seconds"].values()), face["track"]))

    def summary_text(self) -> str:
        """The summary in words (web_static/js/session.js `summaryText` says the same)."""
        summary = self.summary()
        if not summary["faces"]:
            return "No face seen yet in this session."
        listed = [f"track {face['track']}: " + (", ".join(f"{label} {tenths(value)} s" for label, value in
                                                          face["seconds"].items()) or "no readable expression")
                  for face in summary["per_face"][:SUMMARY_FACES]]
        more = len(summary["per_face"]) - len(listed)
        if more > 0:
            listed.append(f"{more} more face(s)")
        return (f"{summary['faces']} face(s) seen, {summary['unmasked_faces']} unmasked · {summary['frames']} frames "
                f"analysed in {tenths(summary['duration_s'])} s · time per expression, per tracked face: {'; '.join(listed)}")

    def timeline(self, window_s: float = TIMELINE_WINDOW_S) -> list[tuple[float, int, str, float]]:
        """(time_s, track, expression, its probability) of the samples in the last `window_s` seconds that have a
        readable expression."""
        rows = self.rows
        if not len(rows):
            return []
        return [(rows.time_s[i], rows.track[i], self.emotion_labels[rows.expression[i]], rows.expression_probability(i))
                for i in range(rows.since(rows.time_s[-1] - window_s), len(rows))
                if rows.expression[i] != rows.NO_EXPRESSION]

    def csv_text(self) -> str:
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(csv_header(self.emotion_labels))
        writer.writerows(self.rows)
        return out.getvalue()
