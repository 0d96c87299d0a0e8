"""The webcam over WebRTC (aiortc): the browser sends its camera as a video track, the server sends the annotated
track back on the same connection.

One frame's path: the browser's camera (getUserMedia, demo/webrtc.js) -> RTCPeerConnection, VP8 -> aiortc in the app's
process -> `AnnotatedTrack` keeps only the newest camera frame (older ones are dropped, never queued, so what the user
sees is never more than one frame behind) -> `analyse(frame)` in a worker thread, while the frame before is encoded
(demo.gradio_app.analyse_webcam_frame: mirror, FacePipeline.run with the session's tracker, session analytics,
readout) -> the annotated frame, stamped with the camera frame's timestamp, goes back -> the page's
<video id="webrtc-video">.

Why this and not `gr.Image(streaming=True)`: measured side by side in one run (bench/webcam_transports.py,
BENCHMARKS.md) the image stream showed 6.9 frames/s with the shown frame 145 ms old, WebRTC 26.6 frames/s at 98 ms.
Why aiortc and not `fastrtc` (Gradio's WebRTC component): every fastrtc release requires gradio<6.

Signalling (offer, answer) goes through ordinary Gradio events (demo.gradio_app), so nothing is added to Gradio's
server. The media need a direct path between browser and server: on one machine or a LAN host candidates are enough
(no STUN or TURN server is asked by default, nothing leaves the network); through `--share` from elsewhere, pass
`--ice-server stun:...` (and a TURN server where both sides are behind NAT), or use the tab's image-stream fallback.

Nothing is kept: frames live in memory for one analysis. Connections end when the user clicks Stop, closes or reloads
the tab (Gradio's unload), the peer goes away (state failed/closed), it has not connected CONNECT_TIMEOUT_S after the
answer, or after `time_limit_s`.

Junk and floods: `parse_offer` checks an offer completely (JSON, size, SDP that aiortc parses, a video
track with ICE credentials and a DTLS fingerprint) so that the app can check it before it gives the session a stream
slot; a client (address) may have at most MAX_PENDING_PER_CLIENT answered connections that have not connected yet,
and the server at most `max_connections` connections in all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import cv2
import numpy as np

# aiortc's SRTP library (pylibsrtp) crashes the process at import (segfault in srtp_init) when TensorFlow was imported
# first: TensorFlow loads its libraries RTLD_GLOBAL, and libsrtp's OpenSSL calls then bind to TensorFlow's BoringSSL.
# RTLD_DEEPBIND makes the media libraries loaded here prefer their own dependencies, whatever was imported before
# (tests/test_webrtc.py imports it after TensorFlow in a fresh interpreter).
_dlopen_flags = sys.getdlopenflags()
sys.setdlopenflags(_dlopen_flags | os.RTLD_DEEPBIND)
try:
    from aiortc import MediaStreamTrack, RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError
    from aiortc.sdp import SessionDescription
    from av import VideoFrame
finally:
    sys.setdlopenflags(_dlopen_flags)

MAX_OFFER_CHARS = 64_000  # a browser's offer with one video track is 3-6 KB
CONNECT_TIMEOUT_S = 10.0  # an answered connection that is not connected by then is closed (on a LAN: under 1 s)
MAX_PENDING_PER_CLIENT = 2  # answered, not yet connected connections per client address
MAX_CONNECTIONS = 16
GATHER_TIMEOUT_MS = 3000  # the browser sends its offer after ICE gathering or this long (demo/webrtc.js)

log = logging.getLogger("facexp.webrtc")
logging.getLogger("aioice").setLevel(logging.WARNING)  # one INFO line per candidate pair and state otherwise

Analyse = Callable[[np.ndarray], "np.ndarray | None"]  # RGB camera frame -> RGB annotated frame (None: send it as is)


class OfferError(ValueError):
    """The browser's offer is not what this server can answer (names what is wrong)."""


def parse_offer(text: str) -> RTCSessionDescription:
    """The page's offer, JSON {"sdp": ..., "type": "offer"} with a video track that can be connected to (ICE
    credentials, a DTLS fingerprint), or OfferError saying what is wrong."""
    if isinstance(text, str) and len(text) > MAX_OFFER_CHARS:
        raise OfferError(f"WebRTC offer: expected at most {MAX_OFFER_CHARS} characters, found {len(text)}")
    try:
        offer = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        raise OfferError(f"WebRTC offer: expected JSON {{\"sdp\", \"type\"}}, found {str(text)[:40]!r}") from None
    if not isinstance(offer, dict) or offer.get("type") != "offer" or not isinstance(offer.get("sdp"), str):
        found = sorted(offer) if isinstance(offer, dict) else type(offer).__name__
        raise OfferError(f"WebRTC offer: expected {{\"sdp\": str, \"type\": \"offer\"}}, found {found}")
    if "m=video" not in offer["sdp"]:
        raise OfferError("WebRTC offer: expected a video track (m=video) in the SDP, found none")
    try:
        description = SessionDescription.parse(offer["sdp"])
    except Exception:  # aiortc's parser raises several types for malformed SDP
        raise OfferError("WebRTC offer: the SDP is malformed (it cannot be parsed)") from None
    video = [media for media in description.media if media.kind == "video"]
    if not video:
        raise OfferError("WebRTC offer: expected a video track (m=video) in the SDP, found none")
    ice, dtls = video[0].ice, video[0].dtls  # aiortc copies session-level attributes into each media
    if not (ice and ice.usernameFragment and ice.password) or not (dtls and dtls.fingerprints):
        raise OfferError("WebRTC offer: expected ICE credentials and a DTLS fingerprint for the video track, found none")
    return RTCSessionDescription(sdp=offer["sdp"], type="offer")


class AnnotatedTrack(MediaStreamTrack):
    """The camera track in, the annotated track out. A reader task keeps only the newest camera frame. Two stages
    overlap: when the sender takes an annotated frame (`recv`) to encode and send it, the analysis of the newest
    camera frame starts at once, so the next frame is ready about when the sender asks for it (one at a time per
    connection: the session's tracker sees its frames in order)."""

    kind = "video"

    def __init__(self, camera: MediaStreamTrack, analyse: Analyse, executor: ThreadPoolExecutor):
        super().__init__()
        self.camera, self.analyse, self.executor = camera, analyse, executor
        self.newest: VideoFrame | None = None
        self.arrived = asyncio.Event()
        self.reader = asyncio.ensure_future(self.read_camera())
        self.next: asyncio.Future | None = None  # the analysis under way (or done, waiting for the sender)

    async def read_camera(self) -> None:
        try:
            while True:
                self.newest = await self.camera.recv()
                self.arrived.set()
        except MediaStreamError:  # the camera track ended
            self.newest = None
            self.arrived.set()

    async def recv(self) -> VideoFrame:
        if self.next is None:
            self.next = asyncio.ensure_future(self.analyse_newest())
        try:
            out = await self.next
        finally:
            self.next = None
        self.next = asyncio.ensure_future(self.analyse_newest())  # the next frame, while this one is encoded and sent
        return out

    async def analyse_newest(self) -> VideoFrame:
        """The newest camera frame not analysed yet (waiting for one if needed), annotated."""
        await self.arrived.wait()
        self.arrived.clear()
        frame = self.newest
        if frame is None or self.readyState != "live":
            raise MediaStreamError
        out = await asyncio.get_running_loop().run_in_executor(self.executor, self.annotate, frame)
        out.pts, out.time_base = frame.pts, frame.time_base
        return out

    def annotate(self, frame: VideoFrame) -> VideoFrame:
        """One camera frame -> the frame to send (in a worker thread): the camera frame as is when `analyse` returns
        None, else the annotated image in the encoder's own format, yuv420p (OpenCV converts in 0.1 ms; handing the
        encoder RGB costs 0.9 ms in libswscale)."""
        annotated = self.analyse(frame.to_ndarray(format="rgb24"))
        if annotated is None:
            return frame
        height, width = annotated.shape[:2]
        if height % 2 or width % 2:
            return VideoFrame.from_ndarray(annotated, format="rgb24")
        return VideoFrame.from_ndarray(cv2.cvtColor(annotated, cv2.COLOR_RGB2YUV_I420), format="yuv420p")

    def stop(self) -> None:
        self.reader.cancel()
        if self.next is not None:
            self.next.cancel()
        super().stop()


class WebRTCPeers:
    """The open peer connections, at most one per browser session (keyed by Gradio's session hash), at most
    `max_pending_per_client` of one client address not connected yet, at most `max_connections` in all."""

    def __init__(self, ice_servers: list[str] | tuple[str, ...] = (), time_limit_s: float = 600, workers: int = 4,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S, max_pending_per_client: int = MAX_PENDING_PER_CLIENT,
                 max_connections: int = MAX_CONNECTIONS):
        self.ice_servers = list(ice_servers)
        self.time_limit_s = time_limit_s
        self.connect_timeout_s = connect_timeout_s
        self.max_pending_per_client, self.max_connections = max_pending_per_client, max_connections
        self.connections: dict[str, RTCPeerConnection] = {}
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webrtc-frame")

    def browser_config(self, camera: dict) -> dict:
        """What demo/webrtc.js reads (window.facexpWebrtcConfig): the same ICE servers as the server's side."""
        return {"iceServers": [{"urls": url} for url in self.ice_servers], "camera": camera,
                "gatherTimeoutMs": GATHER_TIMEOUT_MS}

    def pending(self, client: str) -> int:
        """How many of `client`'s connections have been answered but are not connected (yet)."""
        return sum(1 for connection in self.connections.values()
                   if connection.client == client and connection.connectionState != "connected")

    async def answer(self, key: str, offer_text: str, analyse: Analyse, on_end: Callable[[str], None] | None = None,
                     client: str = "") -> str:
        """Answer the browser's offer (JSON) for session `key` of `client` (its address): its video comes back annotated
        by `analyse`. A session's previous connection is closed first. `on_end(reason)` is called once when the
        connection ends. OfferError when the offer is not one to answer or the limits are reached."""
        offer = parse_offer(offer_text)
        await self.close(key)
        if self.pending(client) >= self.max_pending_per_client:
            raise OfferError(f"WebRTC: {self.max_pending_per_client} webcam connections from this address are still "
                             "connecting; wait a few seconds and try again")
        if len(self.connections) >= self.max_connections:
            raise OfferError(f"WebRTC: the server has {self.max_connections} webcam connections open, the most it "
                             "holds; try again in a minute")
        configuration = RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in self.ice_servers])
        connection = RTCPeerConnection(configuration)
        connection.client = client
        self.connections[key] = connection
        loop = asyncio.get_running_loop()
        time_limit = loop.call_later(self.time_limit_s, lambda: asyncio.ensure_future(
            self.end(key, connection, f"stopped after {self.time_limit_s / 60:g} min; click Start to go on")))
        connect_limit = loop.call_later(self.connect_timeout_s, self.end_unless_connected, key, connection)
        connection.time_limit, connection.connect_limit, connection.on_end = time_limit, connect_limit, on_end

        @connection.on("track")
        def on_track(track):
            if track.kind == "video":
                connection.addTrack(AnnotatedTrack(track, analyse, self.executor))

        @connection.on("connectionstatechange")
        async def on_state():
            if connection.connectionState in ("failed", "closed"):
                await self.end(key, connection, f"connection {connection.connectionState}")

        try:
            await connection.setRemoteDescription(offer)
            await connection.setLocalDescription(await connection.createAnswer())
        except Exception as error:  # an offer aiortc cannot answer (codecs, malformed SDP)
            log.info("webrtc %s: offer refused: %s", key[:8], error)
            await self.end(key, connection, "offer refused")
            raise OfferError("WebRTC offer refused: this server cannot answer it (no video codec in common, or SDP it "
                             "cannot use)") from None
        return json.dumps({"sdp": connection.localDescription.sdp, "type": connection.localDescription.type})

    def end_unless_connected(self, key: str, connection: RTCPeerConnection) -> None:
        """CONNECT_TIMEOUT_S after the answer: a connection that is not connected by then is closed."""
        if connection.connectionState != "connected":
            asyncio.ensure_future(self.end(key, connection, f"not connected within {self.connect_timeout_s:g} s"))

    async def end(self, key: str, connection: RTCPeerConnection, reason: str) -> None:
        """Close one connection (idempotent: closing fires connectionstatechange, which comes here again); its session
        hears why through on_end."""
        if self.connections.get(key) is connection:
            del self.connections[key]
        connection.time_limit.cancel()
        connection.connect_limit.cancel()
        on_end, connection.on_end = connection.on_end, None
        await connection.close()
        if on_end is not None:
            on_end(reason)
            log.info("webrtc %s: %s (%d open)", key[:8], reason, len(self.connections))

    async def close(self, key: str, reason: str = "stopped") -> None:
        """Close session `key`'s connection, if any (Stop, a new Start, the tab closed)."""
        connection = self.connections.get(key)
        if connection is not None:
            await self.end(key, connection, reason)
