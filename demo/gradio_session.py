"""The Gradio webcam tab's session panel: the live session's analytics (core.session, per tracked face) as an
expression timeline, a summary, alerts, the session CSV on request and "Reset session". A timer refreshes it every
SESSION_REFRESH_S from the tab's WebcamSession, which the stream fills; in memory only, the CSV is written to the
private temp dir when asked for.

The timeline is an SVG drawn here (`timeline_svg`, shown by gr.HTML), as the page draws its canvas
(web_static/js/session.js drawTimeline): one row per tracked face, named "track N" as the session's alerts and the
boxes' "tN" (the TIMELINE_FACES most recently seen), a bar per stretch
of samples with the same expression, coloured by expression (core.draw.expression_colors), a legend of all
expressions, seconds since the session started. (Gradio's ScatterPlot drew nothing here: built from an empty table,
it kept empty colour scales and drew every later point transparent, with no legend.)

New alerts are listed at once and announced in one toast at a time: alerts raised while a toast is up wait for the
next one, which names them all (ALERT_TOAST_S)."""

from __future__ import annotations

import tempfile
import time
from html import escape
from pathlib import Path

import gradio as gr

from core.draw import expression_colors
from core.session import ALERT_AFTER_S, MAX_GAP_S, TIMELINE_FACES, TIMELINE_WINDOW_S, LiveSession, alert_line
from demo.gradio_errors import user_error
from demo.gradio_settings import SESSION_REFRESH_S
from demo.gradio_temp import temp_dir
from demo.webcam_session import WebcamSession

NO_FACE_YET = "No face seen yet in this session."


TIMELINE_WIDTH = 720  # the SVG's coordinate width (it scales to the panel)
ROW_HEIGHT = (24, 12)  # a face's row: up to 6 faces, and more
LEGEND_HEIGHT, AXIS_HEIGHT, LABEL_WIDTH = 22, 30, 58
ALERT_TOAST_S = 5  # an alert toast stays this long; at most one is up at a time
TEXT = 'font-family="sans-serif" fill="#333"'


def timeline_bars(live: LiveSession) -> list[tuple[int, str, float, float]]:
    """(track, expression, from_s, to_s) per stretch of a face's samples with one expression, no gap over MAX_GAP_S,
    over the last TIMELINE_WINDOW_S; a sample counts until the next one (or SAMPLE_EVERY_S)."""
    bars: list[list] = []
    latest: dict[int, list] = {}  # track -> its latest bar
    for time_s, track, expression, _ in live.timeline():
        bar = latest.get(track)
        if bar is not None:
            if time_s - bar[3] <= MAX_GAP_S:
                bar[3] = time_s  # the face's stretch lasts until this sample
                if bar[1] == expression:
                    continue
            else:
                bar[3] += live.sample_every_s  # the face left: its last sample counts for one sample's time
        latest[track] = [track, expression, time_s, time_s]
        bars.append(latest[track])
    for bar in latest.values():
        bar[3] += live.sample_every_s
    return [tuple(bar) for bar in bars]


def timeline_svg(live: LiveSession | None) -> str:
    """The session's expression timeline as an SVG (see the module docstring)."""
    colors = expression_colors()
    bars = timeline_bars(live) if live is not None else []
    tracks = list(dict.fromkeys(track for track, *_ in sorted(bars, key=lambda bar: bar[3], reverse=True)))
    shown = sorted(tracks[:TIMELINE_FACES])
    row = ROW_HEIGHT[0] if len(shown) <= 6 else ROW_HEIGHT[1]
    font = 12 if row >= 16 else 10
    height = LEGEND_HEIGHT + max(len(shown), 1) * row + AXIS_HEIGHT
    width, left = TIMELINE_WIDTH, LABEL_WIDTH
    plot = width - left - 8
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" width="100%" '
             f'data-faces="{len(tracks)}" aria-label="Expression timeline, per face">']
    step = plot / len(colors)
    for i, (label, color) in enumerate(colors.items()):  # the legend
        x = left + i * step
        parts.append(f'<rect class="legend" x="{x:.1f}" y="5" width="11" height="11" fill="{color}"/>'
                     f'<text x="{x + 15:.1f}" y="15" font-size="12" {TEXT}>{label}</text>')
    if not shown:
        parts.append(f'<text x="{left}" y="{LEGEND_HEIGHT + row * 0.7:.0f}" font-size="12" {TEXT}>'
                     'No face with a readable expression yet.</text></svg>')
        return "".join(parts)
    end = max(bar[3] for bar in bars)
    start = max(0.0, end - TIMELINE_WINDOW_S)
    span = max(end - start, 10.0)
    x_of = lambda t: left + plot * (t - start) / span  # noqa: E731
    for r, track in enumerate(shown):
        y = LEGEND_HEIGHT + r * row
        parts.append(f'<text x="{left - 6}" y="{y + row / 2 + font * 0.35:.1f}" text-anchor="end" '
                     f'font-size="{font}" {TEXT}>track {track}</text>')
    for track, expression, t0, t1 in bars:
        if track not in shown:
            continue
        y = LEGEND_HEIGHT + shown.index(track) * row
        x0, x1 = x_of(max(t0, start)), x_of(t1)
        parts.append(f'<rect class="mark" x="{x0:.1f}" y="{y + 1.5:.1f}" width="{max(x1 - x0, 2):.1f}" '
                     f'height="{row - 3}" fill="{colors[expression]}"><title>track {track}: {expression}, '
                     f'{t0:.1f}-{t1:.1f} s</title></rect>')
    axis_y = LEGEND_HEIGHT + len(shown) * row
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + plot}" y2="{axis_y}" stroke="#999"/>')
    tick = 5 if span <= 30 else 10
    for t in range(int(start // tick + 1) * tick if start else 0, int(start + span) + 1, tick):
        parts.append(f'<text x="{x_of(t):.1f}" y="{axis_y + 13}" text-anchor="middle" font-size="11" {TEXT}>{t}</text>')
    note = f" (the {len(shown)} seen last of {len(tracks)} faces)" if len(tracks) > len(shown) else ""
    parts.append(f'<text x="{left}" y="{axis_y + 27}" font-size="11" {TEXT}>'
                 f'seconds since the session started{escape(note)}</text></svg>')
    return "".join(parts)


EMPTY_SESSION_VIEW = (NO_FACE_YET, timeline_svg(None), "")


def session_view(session: WebcamSession | None, alert_after_s: float | None, force: bool = False):
    """The session panel's widgets (summary, timeline, alerts); the same values again while nothing changed (not
    gr.skip(): Gradio keeps a copy of a component in the session for each gr.skip() it is sent)."""
    if session is None:
        return EMPTY_SESSION_VIEW
    live = session.live
    if alert_after_s and alert_after_s > 0:
        live.alert_after_s = float(alert_after_s)
    announce(session)
    if live.version == session.shown_version and not force and session.view is not None:
        return session.view
    session.shown_version = live.version
    alerts = "\n".join(f"- {alert_line(alert)}" for alert in live.alerts)
    session.view = (live.summary_text(), timeline_svg(live), alerts)
    return session.view


def announce(session: WebcamSession, now: float | None = None) -> str | None:
    """The toast for alerts not announced yet, unless one is still up (then they wait for the next); its text."""
    now = time.monotonic() if now is None else now
    new = session.live.alerts[session.shown_alerts:]
    if not new or now - session.toast_time < ALERT_TOAST_S:
        return None
    faces = ", ".join(str(alert["track"]) for alert in new)
    text = new[0]["text"] if len(new) == 1 else f"{len(new)} faces unmasked (faces {faces})"
    gr.Warning(f"ALERT: {text}", duration=ALERT_TOAST_S)
    session.shown_alerts, session.toast_time = len(session.live.alerts), now
    return text


def session_csv(session: WebcamSession | None):
    """The session's samples as a CSV file (written now, into the private temp dir) for download."""
    if session is None or not session.live.rows:
        raise user_error("Nothing recorded yet: start the camera first.")
    out_dir = Path(tempfile.mkdtemp(dir=temp_dir(), prefix="session-"))
    path = out_dir / f"session-{time.strftime('%Y%m%d-%H%M%S')}.csv"
    path.write_text(session.live.csv_text())
    return str(path)


def session_reset(session: WebcamSession | None, alert_after_s: float | None):
    """Forget the session (samples, faces, alerts; the tracker restarts its ids)."""
    if session is not None:
        session.reset()
    return *session_view(session, alert_after_s, force=True), None, session


def session_panel(session: gr.State) -> None:
    """The panel's layout under the webcam, bound to the tab's `session` state."""
    with gr.Accordion("Session (this webcam stream)", open=True):
        with gr.Row():
            with gr.Column(scale=2):
                gr.Markdown("Expression timeline (per tracked face, last minute)")
                timeline = gr.HTML(timeline_svg(None), elem_id="session-timeline")
            with gr.Column(scale=1):
                summary = gr.Markdown(NO_FACE_YET, elem_id="session-summary")
                alert_after = gr.Number(ALERT_AFTER_S, minimum=0.25, step=0.25, label="Alert when a face is unmasked for at least (s)")
                alerts = gr.Markdown(elem_id="session-alerts")
                with gr.Row():
                    csv_button = gr.Button("Download session CSV", elem_id="session-csv-button")
                    reset_button = gr.Button("Reset session", elem_id="session-reset")
                csv_file = gr.File(label="Session CSV", elem_id="session-csv")
    timer = gr.Timer(SESSION_REFRESH_S)
    timer.tick(session_view, [session, alert_after], [summary, timeline, alerts], show_progress="hidden",
               api_visibility="private", concurrency_limit=None)  # cheap: no model involved
    csv_button.click(session_csv, [session], [csv_file], api_visibility="private")
    reset_button.click(session_reset, [session, alert_after], [summary, timeline, alerts, csv_file, session],
                       api_visibility="private")
