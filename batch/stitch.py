"""Joining a video's segments into one table, with one track id per person across the segment borders.

Each segment was tracked on its own (batch.labeller), with track ids of its own, starting WARMUP_FRAMES before its
first frame. Those warm-up frames were also labelled, as their own frames, by the segment before, so both saw the
same faces there: a track of the new segment takes the id of the face the earlier segments gave in the same frame
at the same place (the best box IoU, at least MATCH_IOU, among the faces that had an id there; the latest warm-up
frame where the track appears decides). A track not seen in the warm-up is a new person and gets the next free id,
in order of first appearance, as one tracker over the whole video numbers them (in the order they are confirmed:
a face not yet on a confirmed track has no id, core.tracking.MIN_TRACK_FRAMES, and keeps none). The warm-up rows are
then dropped.
"""

from __future__ import annotations

import pyarrow as pa

from batch.plan import WARMUP_FRAMES
from core.tracking import box_iou

MATCH_IOU = 0.5  # the same frame decoded twice gives the same boxes; this only absorbs rounding


def stitch_segments(segments: list[tuple[int, pa.Table]]) -> pa.Table:
    """(segment start, its table with warm-up rows) in frame order -> the video's table, global track ids."""
    from batch.faces import SCHEMA

    kept: list[pa.Table] = []
    seen: dict[int, list[tuple[list[int], int | None]]] = {}  # frame -> (box, global track) of the rows kept so far
    next_id = 1
    for start, table in segments:
        columns = table.select(["frame", "track", "x", "y", "w", "h"]).to_pydict()
        frames, tracks = columns["frame"], columns["track"]
        boxes = [[x, y, w, h] for x, y, w, h in zip(columns["x"], columns["y"], columns["w"], columns["h"])]
        mapping: dict[int, int] = {}
        for i in sorted((i for i in range(len(frames)) if frames[i] < start), key=lambda i: -frames[i]):
            if tracks[i] is None or tracks[i] in mapping:
                continue
            candidates = [(box_iou(boxes[i], box), track) for box, track in seen.get(frames[i], [])
                          if track is not None]
            iou, track = max(candidates, default=(0.0, None))
            if iou >= MATCH_IOU and track not in mapping.values():
                mapping[tracks[i]] = track
        own = [i for i in range(len(frames)) if frames[i] >= start]
        for i in own:
            if tracks[i] is not None and tracks[i] not in mapping:
                mapping[tracks[i]] = next_id
                next_id += 1
        new_tracks = [mapping.get(tracks[i]) for i in own]
        for i, track in zip(own, new_tracks):
            seen.setdefault(frames[i], []).append((boxes[i], track))
        # only frames the next segments can warm up on are looked up again
        seen = {frame: rows for frame, rows in seen.items() if frame >= start - WARMUP_FRAMES}
        part = table.take(pa.array(own, pa.int64()))  # typed: an empty list (no face) would be of type null
        kept.append(part.set_column(part.schema.get_field_index("track"), "track", pa.array(new_tracks, pa.int64())))
    return pa.concat_tables(kept) if kept else SCHEMA.empty_table()
