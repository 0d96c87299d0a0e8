// The twin of core/tracking.py's matching: which face of this frame is which face of the previous frames, so that one
// person keeps one track. Each track's box is moved by its velocity (the average motion of its centre per frame);
// faces scored >= high_score are matched first, against all tracks, the others only to the tracks left (they never
// start one); a pair is possible when IoU(face, predicted box) > match_iou and the sides differ at most
// max_size_change times, and each stage takes the assignment with the largest sum of IoU - match_iou (the Hungarian
// method, the same steps as core.tracking.min_cost_assignment). A track gets its id once seen in min_track_frames
// frames (null before: not counted as a person); a track not seen for max_missed_frames frames is dropped. The
// constants come from models/index.json ("pipeline" -> "tracking" = core.tracking.tracking_metadata()). As in Python,
// `update` also averages each tracked face's probabilities over frames: p = smoothing * p_old + (1 - smoothing) *
// p_new (the mask's with mask_smoothing); smoothing 0 turns both off. A face in profile (inProfile) leaves the mask
// average of a track already seen from the front as it is.

// core.tracking.in_profile: the nose tip (third keypoint) at least `offset` eye distances from the eyes' midpoint,
// along the line through the eyes (the first two keypoints).
export function inProfile(keypoints, offset) {
  const [[rightX, rightY], [leftX, leftY], [noseX, noseY]] = keypoints;
  const eyeX = leftX - rightX;
  const eyeY = leftY - rightY;
  const squared = eyeX * eyeX + eyeY * eyeY;
  if (squared === 0) return true;
  const along = (noseX - (rightX + leftX) / 2) * eyeX + (noseY - (rightY + leftY) / 2) * eyeY;
  return Math.abs(along) / squared >= offset;
}

export function boxIou(a, b) {
  const interW = Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]));
  const interH = Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));
  const inter = interW * interH;
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

function boxSide(box) {
  return Math.sqrt(box[2] * box[3]);
}

// [row, column] pairs of a full assignment with the least total cost, rows <= columns (Hungarian method).
export function minCostAssignment(cost) {
  const rows = cost.length;
  const cols = cost[0].length;
  const rowPotential = new Array(rows + 1).fill(0);
  const colPotential = new Array(cols + 1).fill(0);
  const owner = new Array(cols + 1).fill(0);  // owner[j]: the row (1-based) holding column j; column 0 is the free one
  for (let row = 1; row <= rows; row++) {
    owner[0] = row;
    let free = 0;
    const slack = new Array(cols + 1).fill(Infinity);
    const cameFrom = new Array(cols + 1).fill(0);
    const done = new Array(cols + 1).fill(false);
    while (owner[free]) {  // grow a tree of tight edges until it reaches an unassigned column
      done[free] = true;
      const i = owner[free];
      let delta = Infinity;
      let nearest = 0;
      for (let j = 1; j <= cols; j++) {
        if (done[j]) continue;
        const reduced = cost[i - 1][j - 1] - rowPotential[i] - colPotential[j];
        if (reduced < slack[j]) { slack[j] = reduced; cameFrom[j] = free; }
        if (slack[j] < delta) { delta = slack[j]; nearest = j; }
      }
      for (let j = 0; j <= cols; j++) {
        if (done[j]) { rowPotential[owner[j]] += delta; colPotential[j] -= delta; }
        else slack[j] -= delta;
      }
      free = nearest;
    }
    while (free) {  // flip the path back to the root
      const previous = cameFrom[free];
      owner[free] = owner[previous];
      free = previous;
    }
  }
  const pairs = [];
  for (let j = 1; j <= cols; j++) if (owner[j]) pairs.push([owner[j] - 1, j - 1]);
  return pairs;
}

// [row, column] pairs of the assignment with the largest total gain, pairs of gain 0 left out.
export function bestPairs(gains) {
  if (!gains.length || !gains[0].length) return [];
  if (gains.length > gains[0].length) {
    return bestPairs(gains[0].map((_, c) => gains.map(row => row[c]))).map(([c, r]) => [r, c])
      .sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  }
  return minCostAssignment(gains.map(row => row.map(g => -g))).filter(([r, c]) => gains[r][c] > 0)
    .sort((p, q) => p[0] - q[0] || p[1] - q[1]);
}

export class FaceTracker {
  // smoothing: the weight of the past in the probabilities (constants.smoothing by default; 0 = no smoothing).
  constructor(constants, smoothing = constants.smoothing) {
    this.c = constants;
    this.smoothing = smoothing;
    this.maskSmoothing = smoothing > 0 ? constants.mask_smoothing : 0;  // smoothing off means off for both
    this.reset();
  }

  reset() {
    this.tracks = [];  // {id (null until confirmed), box, velocity, hits, missed, emotion, mask, seenFrontal}
    this.nextId = 1;
    this.frames = 0;  // updates so far
  }

  predictedBox(track) {
    const frames = track.missed + 1;
    return [track.box[0] + track.velocity[0] * frames, track.box[1] + track.velocity[1] * frames,
      track.box[2], track.box[3]];
  }

  pairGain(box, track) {
    const sides = [boxSide(box), boxSide(track.box)];
    if (Math.max(...sides) > this.c.max_size_change * Math.min(...sides)) return 0;
    return Math.max(0, boxIou(box, this.predictedBox(track)) - this.c.match_iou);
  }

  see(track, box) {
    const frames = track.missed + 1;
    const moved = [(box[0] + box[2] / 2 - (track.box[0] + track.box[2] / 2)) / frames,
      (box[1] + box[3] / 2 - (track.box[1] + track.box[3] / 2)) / frames];
    const keep = track.hits > 1 ? this.c.velocity_smoothing : 0;  // the first motion seen is the first estimate
    track.velocity = track.velocity.map((v, k) => keep * v + (1 - keep) * moved[k]);
    track.box = box.slice();
    track.missed = 0;
    track.hits += 1;
  }

  // face -> track (indices) of the best assignment between these faces and these tracks.
  match(boxes, faces, tracks) {
    const gains = faces.map(f => tracks.map(t => this.pairGain(boxes[f], this.tracks[t])));
    return new Map(bestPairs(gains).map(([r, c]) => [faces[r], tracks[c]]));
  }

  // One frame's boxes, their probabilities, detector scores (null: all strong) and whether each face is in profile
  // (null: none is) -> {ids: track id per face (null: no confirmed track), emotion: smoothed probabilities per face,
  // mask: the same or null} (core.tracking.FaceTracker.update).
  update(boxes, emotionProbs, maskProbs = null, scores = null, profiles = null) {
    this.frames += 1;
    const strong = boxes.map((_, f) => f).filter(f => scores === null || scores[f] >= this.c.high_score);
    const weak = boxes.map((_, f) => f).filter(f => !strong.includes(f));
    const faceToTrack = this.match(boxes, strong, this.tracks.map((_, t) => t));
    const taken = new Set(faceToTrack.values());
    const unmatched = this.tracks.map((_, t) => t).filter(t => !taken.has(t));
    for (const [f, t] of this.match(boxes, weak, unmatched)) faceToTrack.set(f, t);
    const seen = new Set(faceToTrack.values());
    const keep = this.smoothing;
    const keepMask = this.maskSmoothing;
    const blend = (old, now, w) => old.map((v, k) => w * v + (1 - w) * now[k]);
    const ids = [];
    const emotion = [];
    const mask = [];
    boxes.forEach((box, face) => {
      const newEmotion = emotionProbs[face];
      const newMask = maskProbs ? maskProbs[face] : null;
      const frontal = profiles === null || !profiles[face];
      let track;
      if (faceToTrack.has(face)) {
        track = this.tracks[faceToTrack.get(face)];
        track.emotion = blend(track.emotion, newEmotion, keep);
        if (newMask && (frontal || !track.seenFrontal)) {
          track.mask = track.mask ? blend(track.mask, newMask, keepMask) : newMask;
        }
        track.seenFrontal = track.seenFrontal || frontal;
        this.see(track, box);
      } else if (strong.includes(face)) {
        track = {id: null, box: box.slice(), velocity: [0, 0], hits: 1, missed: 0, emotion: newEmotion, mask: newMask,
          seenFrontal: frontal};
        this.tracks.push(track);
        seen.add(this.tracks.length - 1);
      } else {  // a weak face on its own: no track, its own probabilities
        ids.push(null);
        emotion.push(newEmotion);
        mask.push(newMask);
        return;
      }
      if (track.id === null && track.hits >= this.c.min_track_frames) track.id = this.nextId++;
      ids.push(track.id);
      emotion.push(track.emotion);
      mask.push(track.mask);
    });
    this.tracks.forEach((track, t) => { if (!seen.has(t)) track.missed += 1; });
    this.tracks = this.tracks.filter(track => track.missed <= this.c.max_missed_frames);
    return {ids, emotion, mask: maskProbs ? mask : null};
  }
}
