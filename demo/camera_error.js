// The Gradio webcam tab's camera-error message (Gradio itself shows nothing when the browser gives no camera). Loaded
// into the page's <head> by demo.gradio_head, after window.facexpCameraErrors = {messages, elementId}: a failed
// getUserMedia (permission denied, no camera, camera busy) writes the message for its error name into the element
// #elementId; a camera that starts clears it.
(() => {
  const {messages, elementId} = window.facexpCameraErrors;
  const show = (text) => {
    const box = document.getElementById(elementId);
    if (box) { box.textContent = text; box.style.display = text ? 'block' : 'none'; }
  };
  const media = navigator.mediaDevices;
  if (!media || !media.getUserMedia) return;
  const original = media.getUserMedia.bind(media);
  media.getUserMedia = async (constraints) => {
    try {
      const stream = await original(constraints);
      show('');
      return stream;
    } catch (error) {
      const name = (error && error.name) || 'Error';
      show((messages[name] || messages.other).replace('{name}', name).replace('{message}', (error && error.message) || ''));
      throw error;
    }
  };
})();
