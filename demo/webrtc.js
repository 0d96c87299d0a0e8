// The Gradio webcam tab's browser side of WebRTC (demo/webrtc.py is the server side). Loaded into the page's <head>
// by demo.gradio_head; the tab's buttons call these through Gradio events:
//   Start: facexpWebrtc.start(mirror, smoothing) -> [offer JSON, mirror, smoothing], the inputs of the Python
//          handler, which answers; then facexpWebrtc.accept(answer JSON) completes the connection.
//   Stop:  facexpWebrtc.stop() closes it (the server closes its side in the same click).
// The camera goes up as a video track; the annotated frames come back as a video track into <video id="webrtc-video">.
// No frame is stored anywhere: both tracks are live media.
(() => {
  const config = window.facexpWebrtcConfig;  // demo.webrtc.WebRTCPeers.browser_config, written before this script
  if (!config) throw new Error('facexpWebrtcConfig missing: demo/webrtc.js runs in the head of the Gradio app only');
  const state = {connection: null, camera: null};
  const byId = (id) => document.getElementById(id);

  function showState(text) {
    const box = byId('webrtc-state');
    if (box) box.textContent = text;
  }

  function release() {
    if (state.connection) state.connection.close();
    if (state.camera) state.camera.getTracks().forEach((track) => track.stop());
    const video = byId('webrtc-video');
    if (video) video.srcObject = null;
    state.connection = state.camera = null;
  }

  function iceGathered(connection) {
    // Host candidates are enough on one machine or a LAN; with STUN/TURN servers gathering takes longer, so wait
    // at most gatherTimeoutMs and send what there is.
    return new Promise((resolve) => {
      if (connection.iceGatheringState === 'complete') return resolve();
      const timer = setTimeout(resolve, config.gatherTimeoutMs);
      connection.addEventListener('icegatheringstatechange', () => {
        if (connection.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
      });
    });
  }

  async function start(mirror, smoothing) {
    release();
    showState('starting the camera...');
    try {
      // getUserMedia's failures (denied, no camera, busy) are explained in #webcam-camera-error by the app's
      // camera-error script, which wraps this call.
      state.camera = await navigator.mediaDevices.getUserMedia({video: config.camera, audio: false});
    } catch (error) {
      showState('no camera');
      return ['', mirror, smoothing];
    }
    const connection = new RTCPeerConnection({iceServers: config.iceServers});
    state.connection = connection;
    state.camera.getVideoTracks().forEach((track) => connection.addTrack(track, state.camera));
    connection.ontrack = (event) => {
      const video = byId('webrtc-video');
      if (video) video.srcObject = new MediaStream([event.track]);
    };
    connection.onconnectionstatechange = () => {
      if (state.connection === connection) showState(connection.connectionState);
    };
    await connection.setLocalDescription(await connection.createOffer());
    await iceGathered(connection);
    showState('connecting...');
    const offer = {sdp: connection.localDescription.sdp, type: connection.localDescription.type};
    return [JSON.stringify(offer), mirror, smoothing];
  }

  async function accept(answer) {
    if (!state.connection) return;
    if (!answer) { release(); showState('not connected'); return; }  // refused (busy, no camera): the readout says why
    await state.connection.setRemoteDescription(JSON.parse(answer));
  }

  function stop() {
    release();
    showState('stopped');
    return [];
  }

  window.facexpWebrtc = {start, accept, stop, state};
})();
