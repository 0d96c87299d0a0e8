// Test helper for tests/test_tracking.py: web_static/js/tracking.js fed recorded sequences of frames.
//   node tests/js/tracking_dump.mjs JOB.json
// JOB.json: {tracking: index.json's pipeline.tracking block, sequences: [[{boxes, scores} per frame] per sequence]}
// Prints [[[track id or null per face] per frame] per sequence] as JSON (a new FaceTracker per sequence).
import fs from 'fs';
import {FaceTracker} from '../../web_static/js/tracking.js';

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const ids = job.sequences.map(frames => {
  const tracker = new FaceTracker(job.tracking);
  return frames.map(frame => tracker.assign(frame.boxes, frame.scores));
});
process.stdout.write(JSON.stringify(ids));
