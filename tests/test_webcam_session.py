"""demo.webcam_session: the Gradio webcam tab's per-tab state, its frames/s and what its readout says about the camera
resolution received (the readout in the running app: test_gradio_app.py)."""

from demo.webcam_session import WebcamSession, resolution_note

ASKED = (640, 480)


def test_resolution_note_says_when_the_picture_is_smaller_than_asked_or_than_before():
    assert resolution_note((640, 480), (640, 480), ASKED) == ""
    assert resolution_note((1280, 720), (1280, 720), ASKED) == ""
    assert "less than the 640x480 asked" in resolution_note((320, 240), (320, 240), ASKED)
    assert "dropped to 320x240 (it was 640x480)" in resolution_note((320, 240), (640, 480), ASKED)


def test_readout_has_no_frame_rate_before_two_frames_and_notes_a_drop():
    session = WebcamSession()
    session.frame_analysed(100.0, (640, 480))
    assert session.rate_text((640, 480), ASKED) == "camera 640x480 | first frame"  # not "0.0 frames/s"
    session.frame_analysed(100.1, (640, 480))
    assert session.rate_text((640, 480), ASKED) == "camera 640x480 | 10.0 frames/s"
    session.frame_analysed(100.2, (320, 240))  # WebRTC lowered the resolution under load
    text = session.rate_text((320, 240), ASKED)
    assert text.startswith("camera 320x240 | 10.0 frames/s\n\n**The camera picture dropped to 320x240")
