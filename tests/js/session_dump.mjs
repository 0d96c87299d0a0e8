// Test helper for tests/test_session.py: web_static/js/tracking.js + session.js fed a recorded sequence of frames.
//   node tests/js/session_dump.mjs JOB.json
// JOB.json: {labels: [expression labels], pipeline: index.json's pipeline block, alert_after_s,
//            frames: [{now, faces: [face in the CLI's JSON shape]}]}
// Prints {ids: [[track id per face] per frame], alerts: [alert per frame], summary, summaryText, alertLines, csv}
// as JSON.
import fs from 'fs';
import {FaceTracker} from '../../web_static/js/tracking.js';
import {LiveSession, alertLine} from '../../web_static/js/session.js';

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const tracker = new FaceTracker(job.pipeline.tracking);
const session = new LiveSession(job.labels, job.pipeline.session, job.alert_after_s);
const ids = [];
const alerts = [];
for (const frame of job.frames) {
  const uniform = frame.faces.map(() => job.labels.map(() => 1 / job.labels.length));
  const frameIds = tracker.update(frame.faces.map(face => face.box), uniform, null, frame.faces.map(face => face.score)).ids;
  ids.push(frameIds);
  alerts.push(session.add(frame.now, frameIds, frame.faces));
}
process.stdout.write(JSON.stringify({ids, alerts, summary: session.summary(), summaryText: session.summaryText(),
  alertLines: session.alerts.map(alertLine), csv: session.csvText()}));
