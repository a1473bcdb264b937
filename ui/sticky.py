"""Several workers on one port, with sticky sessions only where Gradio needs them.

`mentorkb serve --workers N` starts N worker processes that all listen on the public
port (SO_REUSEPORT: the kernel spreads connections among them) and each on a private
loopback port of its own. A Gradio page keeps its state (the queue's event streams,
`gr.State`) in the worker that served it, so its requests must all reach that
worker: the first one a worker serves gets a `mentorkb_worker` cookie naming it,
and a request carrying another worker's name is forwarded to that worker's private
port, response streamed back. The JSON API, sign-in and sign-out keep no per-page
state and are answered wherever they land, so they are never forwarded.

A forwarded request carries the client's address and a token derived from the
server's secret key; the receiving worker believes the address only with the token,
so no other local process can pick its address for the rate limits.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from starlette.background import BackgroundTask
from starlette.requests import Request, cookie_parser
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "mentorkb_worker"
ADDRESS_HEADER = b"x-mentorkb-client"
TOKEN_HEADER = b"x-mentorkb-forward"
# Routes that keep no state in a worker between requests: answered where they land.
STATELESS = re.compile(r"^/(?:api/|login|logout)")
# Headers that belong to one connection, not to the request (RFC 9110, 7.6.1).
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
              b"upgrade"}


def forward_token(secret: str) -> str:
    """What a worker sends to show a forwarded request comes from a sibling worker."""
    return hmac.new(secret.encode(), b"mentorkb worker forward", hashlib.sha256).hexdigest()


class StickyWorkers:
    """ASGI middleware, outermost: send each Gradio page's requests to the worker that
    served the page. `peers` are the workers' private loopback ports; this worker is
    `peers[index]`."""

    def __init__(self, app: ASGIApp, index: int, peers: Sequence[int], secret: str) -> None:
        self.app = app
        self.index = index
        self.peers = list(peers)
        self.token = forward_token(secret).encode()
        self.client = None  # an httpx.AsyncClient, made in the server's event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k not in (ADDRESS_HEADER, TOKEN_HEADER)]
        found = dict(scope["headers"])
        scope = {**scope, "headers": headers}
        if (scope.get("server") or (None, None))[1] == self.peers[self.index]:
            # The private port: a sibling's forward (with its token), never forwarded again.
            if hmac.compare_digest(found.get(TOKEN_HEADER, b""), self.token) and ADDRESS_HEADER in found:
                scope["client"] = (found[ADDRESS_HEADER].decode("latin-1"), 0)
            await self.app(scope, receive, send)
            return
        if STATELESS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        owner = _cookie_worker(found.get(b"cookie", b""), len(self.peers))
        if owner is not None and owner != self.index and await self._forward(scope, receive, send, owner):
            return
        await self.app(scope, receive, self._claiming(send) if owner != self.index else send)

    def _claiming(self, send: Send) -> Send:
        """`send` that names this worker in the response's cookie."""
        cookie = f"{COOKIE}={self.index}; Path=/; HttpOnly; SameSite=Lax".encode()

        async def claiming(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        return claiming

    async def _forward(self, scope: Scope, receive: Receive, send: Send, owner: int) -> bool:
        """Stream the request to worker `owner` and its response back. False, with
        nothing read or sent, when that worker does not answer (it is restarting): the
        request is then served here, and the page's state there is lost."""
        import httpx

        if self.client is None:
            # No read timeout: an event stream stays open as long as its page. A worker that
            # is up but busy may take a while to accept; one that is down refuses at once.
            # A new loopback connection per request (a fraction of a millisecond): a kept-alive
            # one can be closed by the sibling just as a request is sent on it, and a request
            # whose body is already streaming cannot be sent again.
            self.client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=30.0), limits=httpx.Limits(
                max_connections=None, max_keepalive_connections=0))
        request = Request(scope, receive)
        client_host = scope["client"][0] if scope.get("client") else ""
        headers = [(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP]
        headers += [(ADDRESS_HEADER, client_host.encode("latin-1")), (TOKEN_HEADER, self.token)]
        url = f"http://127.0.0.1:{self.peers[owner]}{scope.get('raw_path', scope['path'].encode()).decode('latin-1')}"
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        body = None if scope["method"] in ("GET", "HEAD") else request.stream()
        outgoing = self.client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await self.client.send(outgoing, stream=True)
        except httpx.ConnectError:
            return False
        # Starlette's StreamingResponse stops pumping (and closes the upstream stream)
        # when the client goes away, which matters for Gradio's endless event streams.
        reply = StreamingResponse(response.aiter_raw(), status_code=response.status_code,
                                  background=BackgroundTask(response.aclose))
        reply.raw_headers = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
        await reply(scope, receive, send)
        return True


def _cookie_worker(header: bytes, workers: int) -> int | None:
    """The worker index a request's cookie names, if it names one of ours."""
    if COOKIE.encode() not in header:
        return None
    value = cookie_parser(header.decode("latin-1")).get(COOKIE, "")  # as Starlette's Request.cookies reads it
    return int(value) if value.isdigit() and int(value) < workers else None
