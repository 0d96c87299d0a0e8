"""The Gradio webcam tab's session panel: the live session's analytics (core.session, per tracked face) as an
expression timeline, a summary, alerts (each also a toast), the session CSV on request and "Reset session". A timer
refreshes it every SESSION_REFRESH_S from the tab's WebcamSession, which the stream fills; in memory only, the CSV
is written to the private temp dir when asked for."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from core.draw import expression_colors
from core.session import ALERT_AFTER_S, LiveSession
from demo.gradio_settings import SESSION_REFRESH_S
from demo.gradio_temp import temp_dir
from demo.webcam_session import WebcamSession

NO_FACE_YET = "No face seen yet in this session."


def session_timeline(live: LiveSession | None) -> pd.DataFrame:
    """One point per face and sample. Typed columns even when empty: the plot keeps the axis types it first got."""
    rows = live.timeline() if live is not None else []
    return pd.DataFrame({
        "time_s": pd.Series([row[0] for row in rows], dtype=float),
        "face": pd.Series([f"face {row[1]}" for row in rows], dtype=object),
        "expression": pd.Series([row[2] for row in rows], dtype=object),
        "probability": pd.Series([row[3] for row in rows], dtype=float),
    })


EMPTY_SESSION_VIEW = (NO_FACE_YET, session_timeline(None), "")


def session_view(session: WebcamSession | None, alert_after_s: float | None, force: bool = False):
    """The session panel's widgets (summary, timeline, alerts); the same values again while nothing changed (not
    gr.skip(): Gradio keeps a copy of a component in the session for each gr.skip() it is sent)."""
    if session is None:
        return EMPTY_SESSION_VIEW
    live = session.live
    if alert_after_s and alert_after_s > 0:
        live.alert_after_s = float(alert_after_s)
    if live.version == session.shown_version and not force and session.view is not None:
        return session.view
    for alert in live.alerts[session.shown_alerts:]:
        gr.Warning(f"ALERT: {alert['text']}")
    session.shown_version, session.shown_alerts = live.version, len(live.alerts)
    alerts = "\n".join(f"- **{alert['text']}** (at {alert['time_s']:.1f} s)" for alert in live.alerts)
    session.view = (live.summary_text(), session_timeline(live), alerts)
    return session.view


def session_csv(session: WebcamSession | None):
    """The session's samples as a CSV file (written now, into the private temp dir) for download."""
    if session is None or not session.live.rows:
        raise gr.Error("Nothing recorded yet: start the camera first.")
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
                timeline = gr.ScatterPlot(session_timeline(None), x="time_s", y="face", color="expression",
                                          color_map=expression_colors(), height=220,
                                          label="Expression timeline (per tracked face, last minute)",
                                          elem_id="session-timeline")
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
