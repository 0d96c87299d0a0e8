"""core.camera: one set of camera constants and messages for both web UIs (the UIs' own tests check them on screen:
test_gradio_app's camera tests and test_web_page's)."""

from core.camera import CAMERA_ERROR_ALIASES, CAMERA_ERRORS, camera_messages, camera_metadata
from core.pipeline import pipeline_metadata


def test_every_error_name_gets_a_message_with_the_uis_remedy():
    messages = camera_messages(retry="reload", instead="use the Image tab")
    assert set(messages) == set(CAMERA_ERRORS) | set(CAMERA_ERROR_ALIASES)
    for name, text in messages.items():
        assert "{retry}" not in text and "{instead}" not in text and "use the Image tab" in text, name
        assert ("{name}" in text) == (name == "other"), name
    assert messages["SecurityError"] == messages["NotAllowedError"]
    assert "reload" in messages["NotFoundError"]


def test_the_page_reads_the_same_constants():
    assert pipeline_metadata()["camera"] == camera_metadata()
    assert camera_metadata()["size"] == {"width": 640, "height": 480}
