"""Security headers and error texts on the Gradio app's own FastAPI server, as the page server (demo/web_server.py)
has them.

`app_kwargs()` goes to `launch(app_kwargs=...)`, i.e. to Gradio's FastAPI app:
- `SecurityHeaders`, an ASGI middleware, puts on every HTTP response the page server's headers (nosniff,
  Referrer-Policy, X-Frame-Options DENY, Permissions-Policy with the camera for this origin only,
  Cross-Origin-Resource-Policy) and a Content-Security-Policy written for Gradio's front end: no framing
  (frame-ancestors 'none': the page that asks for the camera cannot be put inside another site's page), no plugins,
  scripts, styles, fonts, images, media and connections from this origin only (plus blob:/data: where the front end
  makes them). Gradio's front end needs inline scripts (its config and this app's <head> scripts) and `eval` (the
  plots' Vega expressions), so script-src allows them; what the policy adds is that nothing is loaded from elsewhere.
- a handler for malformed request bodies: FastAPI would answer pydantic's validation texts; here one sentence.
Errors inside events are made readable by demo.gradio_fixes.readable_error_texts.
"""

from __future__ import annotations

from demo.web_server import SECURITY_HEADERS as PAGE_SERVER_HEADERS

GRADIO_CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob: data: mediastream:",
    "style-src 'self' 'unsafe-inline'",
    "font-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {**PAGE_SERVER_HEADERS, "Content-Security-Policy": GRADIO_CONTENT_SECURITY_POLICY}
MALFORMED_REQUEST = ("The request is not in the form this server expects (see the API page for each endpoint's "
                     "parameters).")


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS on every HTTP response (those a route sets itself are kept)."""

    def __init__(self, app, headers: dict[str, str] | None = None):
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in (headers or SECURITY_HEADERS).items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in self.headers if name not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def malformed_request(request, error):
    from fastapi.responses import JSONResponse

    return JSONResponse({"detail": MALFORMED_REQUEST}, status_code=422)


def app_kwargs() -> dict:
    """For `launch(app_kwargs=...)`: the headers middleware and the readable answer to malformed requests."""
    from fastapi.exceptions import RequestValidationError
    from starlette.middleware import Middleware

    return {"middleware": [Middleware(SecurityHeaders)], "exception_handlers": {RequestValidationError: malformed_request}}
