// Test helper for tests/test_tracking.py: web_static/js/tracking.js fed recorded sequences of frames.
//   node tests/js/tracking_dump.mjs JOB.json
// JOB.json: {tracking: index.json's pipeline.tracking block,
//            sequences: [[{boxes, scores, emotion: [probs per face], mask: [probs per face], profiles?: [bool per
//            face]} per frame] per sequence]}
// Prints [[{ids, emotion, mask} per frame] per sequence] as JSON (a new FaceTracker per sequence): FaceTracker.update.
import fs from 'fs';
import {FaceTracker} from '../../web_static/js/tracking.js';

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const ids = job.sequences.map(frames => {
  const tracker = new FaceTracker(job.tracking);
  return frames.map(frame => tracker.update(frame.boxes, frame.emotion, frame.mask, frame.scores, frame.profiles || null));
});
process.stdout.write(JSON.stringify(ids));
