// Test helper for tests/test_web_draw.py: web_static/js/draw.js's label text and colour of each face, and banners.
//   node tests/js/draw_dump.mjs JOB.json
// JOB.json: {faces: [face in the CLI's JSON shape], banners: [{faces, has_mask_model, note}],
//            layouts: [{faces, frame: [width, height]}], drawing: index.json's pipeline.drawing}
// Prints {faces: [{label, color: [r, g, b]}] one per face, banners: [{text, color}] one per banner,
//         numbered: [label with the face's number, 1-based],
//         tracked: [the same with track 10 + index], layouts: [pageLabelLayout of each layout job]} as JSON.
// Node has no canvas: a line of text is measured as 0.6 em per character (wider than system-ui's average glyph).
import fs from 'fs';
import {bannerText, faceLabel, faceColor, pageLabelLayout} from '../../web_static/js/draw.js';

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const faces = job.faces.map(face => ({label: faceLabel(face, job.drawing), color: faceColor(face, job.drawing)}));
const numbered = job.faces.map((face, i) => faceLabel(face, job.drawing, i + 1));
const tracked = job.faces.map((face, i) => faceLabel(face, job.drawing, i + 1, 10 + i));
const banners = job.banners.map(b => bannerText(b.faces, b.has_mask_model, b.note, job.drawing));
const textWidth = (text, px) => 0.6 * px * text.length;
const layouts = (job.layouts || []).map(l => pageLabelLayout(l.faces, job.drawing, l.frame, textWidth));
process.stdout.write(JSON.stringify({faces, banners, numbered, tracked, layouts}));
