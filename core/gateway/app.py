"""The gateway's ASGI app (Starlette): OpenAI-compatible endpoints over one engine.

``POST /v1/chat/completions`` (plain and ``stream: true`` SSE), an Anthropic-style
``POST /v1/messages``, OpenAI's ``POST /v1/responses`` (all three with tools, tool
results and images), ``GET /v1/models``,
``GET /metrics`` (Prometheus) and an unauthenticated ``GET /health``. Every
request except ``/health`` needs ``Authorization: Bearer <gateway token>``.

Headers: ``x-request-id`` always; ``x-centwise-tier`` and ``x-centwise-cache`` once
known; ``x-centwise-cost-usd`` on plain replies. A stream's headers are sent when its
first delta is ready (so a budget refusal is still a clean 429 and the tier and cache
outcome are known), and its cost, which exists only at the end, travels in the final
chunk's ``centwise`` field and in a closing ``: centwise {...}`` SSE comment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from core.config import GatewayConfig
from core.engine import Engine
from core.errors import CentwiseError, InputError
from core.events import REQUEST_FINISHED
from core.gateway.alerts import AlertMonitor, Poster
from core.gateway.auth import VIRTUAL_PREFIX, bearer, check_bearer, hash_key
from core.gateway.formats import ANTHROPIC, OPENAI, RESPONSES, WireFormat
from core.gateway.logs import LOGGER_NAME, request_log_fields
from core.gateway.metrics import CONTENT_TYPE_LATEST, GatewayMetrics
from core.gateway.openai_api import error_body, now_s
from core.gateway.otel import SpanExporter
from core.gateway.request import ChatRequest, GatewayHTTPError, bad_request, error_for
from core.money import usd_str
from core.pipeline.request import Reply, new_request_id
from core.types import Delta, RequestRecord

__all__ = ["PURPOSE", "Gateway", "create_app"]

log = logging.getLogger(LOGGER_NAME)

#: The ledger ``purpose`` of requests that came through the gateway.
PURPOSE = "gateway"
#: How long the gateway trusts its answer about a virtual key (revocations hold within it).
KEY_CACHE_S = 5.0


class Gateway:
    """State shared by the endpoints: the engine (opened by the lifespan), the token,
    the metrics registry, the alert monitor."""

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        token: str,
        settings: GatewayConfig,
        *,
        post: Poster | None = None,
        on_engine: Callable[[Engine], None] | None = None,
    ) -> None:
        self._engine_factory = engine_factory
        self._token = token
        self.settings = settings
        self.metrics = GatewayMetrics()
        self._post = post
        self._on_engine = on_engine
        self._engine: Engine | None = None
        self.alerts: AlertMonitor | None = None
        self.spans: SpanExporter | None = None
        self._keys_seen: dict[str, tuple[str | None, float]] = {}

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the gateway's engine is not open (lifespan not started)")
        return self._engine

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        engine = self._engine = self._engine_factory()
        # Metrics, alerts and spans for a finished request run after its last bytes are
        # sent, not between its ledger row and them.
        engine.announce_with(asyncio.get_running_loop().call_soon)
        engine.events.on(REQUEST_FINISHED, self.metrics.observe)
        self.alerts = AlertMonitor(
            engine.config,
            engine.events,
            engine.breaker_states,
            webhook_url=self.settings.webhook_url,
            post=self._post,
        )
        self.spans = SpanExporter.from_config(engine.config, engine.events)
        if self._on_engine is not None:
            self._on_engine(engine)
        try:
            yield
        finally:
            await self.alerts.aclose()
            if self.spans is not None:
                self.spans.close()
            await engine.aclose()
            self._engine = None

    # -- helpers ----------------------------------------------------------------

    def _authorize(self, request: Request, *, x_api_key: bool = False) -> str | None:
        """Bearer token; the Anthropic endpoint also takes it as ``x-api-key``, which
        is where Anthropic clients send their key. Returns None for the gateway's own
        token, else the name of the virtual key (``centwise keys gateway create``)
        given, which becomes the request's ``app``."""
        given = [bearer(request.headers.get("authorization"))]
        if x_api_key:
            given.insert(0, request.headers.get("x-api-key", "").strip() or None)
        for key in given:
            if key and check_bearer(f"Bearer {key}", self._token):
                return None
        for key in given:
            if key and key.startswith(VIRTUAL_PREFIX):
                name = self._virtual_key(key)
                if name is not None:
                    return name
        raise GatewayHTTPError(
            401,
            "missing, wrong or revoked gateway key: send 'Authorization: Bearer <token>' "
            "(see `centwise serve --show-token`) or a key from `centwise keys gateway create`",
            "invalid_request_error",
            "invalid_api_key",
        )

    def _virtual_key(self, key: str) -> str | None:
        """The name of the live virtual key ``key``, from the database; answers are
        kept for :data:`KEY_CACHE_S` seconds, so a revocation holds within that."""
        digest = hash_key(key)
        now = time.monotonic()
        cached = self._keys_seen.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            found = self.engine.gateway_key_by_hash(digest)
        except CentwiseError as e:
            raise error_for(e) from None
        name = found.name if found is not None else None
        self._keys_seen[digest] = (name, now + KEY_CACHE_S)
        return name

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _log(self, rec: RecordOrNone, rid: str, path: str, status: int, started: float) -> None:
        fields = request_log_fields(
            rec,
            request_id=rid,
            path=path,
            status=status,
            started=started,
            log_prompts=self.settings.log_prompts,
        )
        # Written on the loop's next turn, once the response's bytes are on their way:
        # formatting and writing the line is then off the request's critical path.
        asyncio.get_running_loop().call_soon(_log_line, fields)

    def _error(
        self,
        err: GatewayHTTPError,
        rid: str,
        path: str,
        started: float,
        shape: ErrorShape = error_body,
    ) -> JSONResponse:
        self._log(None, rid, path, err.status, started)
        headers = {"x-request-id": rid}
        if err.status == 429 and err.type == "insufficient_quota":
            headers["x-should-retry"] = "false"  # a budget refusal will not pass on retry
        return JSONResponse(shape(err), status_code=err.status, headers=headers)

    # -- endpoints --------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def models(self, request: Request) -> Response:
        started = time.perf_counter()
        rid = new_request_id()
        try:
            self._authorize(request)
        except GatewayHTTPError as e:
            return self._error(e, rid, request.url.path, started)
        created = now_s()
        data = [
            {"id": mid, "object": "model", "created": created, "owned_by": owner}
            for mid, owner in self.engine.model_ids()
        ]
        return JSONResponse({"object": "list", "data": data}, headers={"x-request-id": rid})

    async def metrics_endpoint(self, request: Request) -> Response:
        rid = new_request_id()
        try:
            self._authorize(request)
        except GatewayHTTPError as e:
            return self._error(e, rid, request.url.path, time.perf_counter())
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def chat_completions(self, request: Request) -> Response | EventStream:
        """OpenAI-compatible ``POST /v1/chat/completions``."""
        return await self._complete(request, OPENAI)

    async def messages(self, request: Request) -> Response | EventStream:
        """Anthropic-compatible ``POST /v1/messages``."""
        return await self._complete(request, ANTHROPIC)

    async def responses(self, request: Request) -> Response | EventStream:
        """OpenAI Responses API ``POST /v1/responses``."""
        return await self._complete(request, RESPONSES)

    # -- the one request path, whatever the format --------------------------------

    async def _complete(self, request: Request, fmt: WireFormat) -> Response | EventStream:
        started = time.perf_counter()
        path = request.scope["path"]
        rid = new_request_id()
        try:
            app = self._authorize(request, x_api_key=fmt.x_api_key)
        except GatewayHTTPError as e:
            return self._error(e, rid, path, started, fmt.error_body)
        try:
            req = _parse(fmt, await self._read_body(request))
        except GatewayHTTPError as e:  # an authorised request refused: in the ledger too
            self.engine.record_rejected(rid, f"{e.status}: {e}", purpose=PURPOSE, app=app)
            return self._error(e, rid, path, started, fmt.error_body)
        try:
            reply = self._ask(req, app)
        except InputError as e:  # settings the engine refuses before it starts
            http = error_for(e)
            self.engine.record_rejected(rid, f"{http.status}: {http}", purpose=PURPOSE, app=app)
            return self._error(http, rid, path, started, fmt.error_body)
        if req.stream:
            return await self._stream(reply, req, fmt, path, started)
        try:
            rec = await reply.collect()
        except CentwiseError as e:
            return self._failed(reply, e, path, started, fmt.error_body)
        self._log(rec, rec.request_id, path, 200, started)
        return JSONResponse(fmt.reply_body(rec, _centwise(rec), req), headers=_headers(rec))

    def _ask(self, req: ChatRequest, app: str | None = None) -> Reply:
        return self.engine.ask(
            req.prompt,
            system=req.system,
            model=req.model,
            max_output_tokens=req.max_tokens,
            temperature=req.temperature,
            history=req.history,
            purpose=PURPOSE,
            sampling=req.sampling,
            response_format=req.response_format,
            images=req.images,
            turn=req.turn,
            tools=req.tools,
            tool_choice=req.tool_choice,
            parallel_tool_calls=req.parallel_tool_calls,
            reasoning_effort=req.reasoning_effort,
            end_user=req.end_user,
            metadata=req.metadata,
            system_cache_control=req.system_cache_control,
            prompt_cache_key=req.prompt_cache_key,
            client=req.end_user,
            app=app,
        )

    def _failed(
        self,
        reply: Reply,
        err: CentwiseError,
        path: str,
        started: float,
        shape: ErrorShape = error_body,
    ) -> Response:
        http = error_for(err)
        rec = reply.record
        self._log(rec, reply.request_id, path, http.status, started)
        headers = {"x-request-id": reply.request_id}
        if rec is not None and rec.tier:
            headers["x-centwise-tier"] = rec.tier
        if http.status == 429 and http.type == "insufficient_quota":
            headers["x-should-retry"] = "false"
        return JSONResponse(shape(http), status_code=http.status, headers=headers)

    async def _stream(
        self, reply: Reply, req: ChatRequest, fmt: WireFormat, path: str, started: float
    ) -> Response | EventStream:
        # The first delta is awaited before any header goes out: an error before it
        # (a budget refusal, a provider failure) is still a plain HTTP error.
        stream = reply.__aiter__()
        first: Delta | None = None
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            pass
        except CentwiseError as e:
            return self._failed(reply, e, path, started, fmt.error_body)
        body = self._sse(reply, stream, first, fmt, req, path, started)
        return EventStream(body, _stream_headers(reply))

    async def _sse(
        self,
        reply: Reply,
        stream: AsyncIterator[Delta],
        first: Delta | None,
        fmt: WireFormat,
        req: ChatRequest,
        path: str,
        started: float,
    ) -> AsyncIterator[bytes]:
        frames = fmt.frames(reply.request_id, reply.ctx.model or req.model, req)
        status = 200
        try:
            # The first piece goes out with the opening frames (one write).
            yield frames.start(first)
            if first is not None:
                delta, tool = frames.delta, frames.tool  # looked up once: the hot path
                async for piece in stream:
                    yield delta(piece) if isinstance(piece, str) else tool(piece)
        except CentwiseError as e:
            http = error_for(e)
            status = http.status
            yield frames.error(http)
            return
        finally:
            if reply.record is None:  # the client went away: stop and record as cancelled
                await reply.cancel()
                status = 499
            self._log(reply.record, reply.request_id, path, status, started)
        rec = reply.record
        assert rec is not None
        yield frames.end(rec, _centwise(rec))


RecordOrNone = RequestRecord | None
ErrorShape = Callable[[GatewayHTTPError], dict[str, Any]]


def _log_line(fields: dict[str, Any]) -> None:
    log.info("request", extra={"fields": fields})


def _parse(fmt: WireFormat, raw: bytes) -> ChatRequest:
    try:
        return fmt.parse(raw)
    except RecursionError:  # read_json_object bounds the depth; this is the backstop
        raise bad_request("the request body is nested too deeply to be a chat request") from None


def _too_large(limit: int) -> GatewayHTTPError:
    return GatewayHTTPError(
        413, f"the request body is over the {limit:,}-byte limit", code="request_too_large"
    )


def _centwise(rec: RequestRecord) -> dict[str, Any]:
    return {
        "request_id": rec.request_id,
        "tier": rec.tier,
        "cache": rec.cache_outcome,
        "cost_usd": usd_str(rec.cost_usd),
    }


def _stream_headers(reply: Reply) -> list[tuple[bytes, bytes]]:
    """What a stream knows once its first delta is ready: not yet the cost."""
    ctx = reply.ctx
    return [
        (b"x-request-id", reply.request_id.encode("latin-1")),
        (b"x-centwise-tier", ctx.tier.id.encode("latin-1") if ctx.tier else b""),
        (b"x-centwise-cache", ctx.cache_outcome.encode("latin-1")),
        (b"cache-control", b"no-cache"),
        (b"content-type", b"text/event-stream; charset=utf-8"),
    ]


class EventStream:
    """A lean ``text/event-stream`` ASGI response: the start message, then each chunk
    of ``body`` as it comes, sent straight to the server (no task group per request).

    A client that hangs up mid-stream is noticed by one watcher on ``receive()`` (the
    server answers it with ``http.disconnect``), which cancels the streaming task: the
    body generator then sees the cancellation at its pending ``await``, and its
    ``finally`` stops the reply and records it as cancelled.
    """

    __slots__ = ("_body", "_headers")

    def __init__(self, body: AsyncIterator[bytes], headers: list[tuple[bytes, bytes]]) -> None:
        self._body = body
        self._headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        state = {"done": False, "hung_up": False}

        def watch(w: asyncio.Future[Any]) -> None:
            if state["done"] or w.cancelled() or w.exception() is not None:
                return
            if w.result().get("type") == "http.disconnect":
                state["hung_up"] = True
                task.cancel()

        watcher = asyncio.ensure_future(receive())
        watcher.add_done_callback(watch)
        body = self._body
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self._headers})
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            state["done"] = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            # Our own cancellation (the client is gone, nothing to send) ends here;
            # any other, such as the server shutting down, goes on.
            if not state["hung_up"] or task.uncancel() > 0:
                raise
        except BaseException:
            state["done"] = True
            await _aclose(body)
            raise
        finally:
            state["done"] = True
            if not watcher.done():
                watcher.cancel()
        if state["hung_up"]:
            await _aclose(body)


async def _aclose(body: AsyncIterator[bytes]) -> None:
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


def _headers(rec: RequestRecord) -> dict[str, str]:
    return {
        "x-request-id": rec.request_id,
        "x-centwise-tier": rec.tier or "",
        "x-centwise-cache": rec.cache_outcome,
        "x-centwise-cost-usd": usd_str(rec.cost_usd) or "unknown",
    }


def create_app(
    engine_factory: Callable[[], Engine],
    token: str,
    settings: GatewayConfig | None = None,
    *,
    post: Poster | None = None,
    on_engine: Callable[[Engine], None] | None = None,
) -> Starlette:
    """The gateway app. The engine is opened by ``engine_factory`` on the server's own
    event loop at start-up and closed at shutdown; ``app.state.gateway`` is the
    :class:`Gateway`."""
    gw = Gateway(engine_factory, token, settings or GatewayConfig(), post=post, on_engine=on_engine)
    routes = [
        Route("/v1/chat/completions", gw.chat_completions, methods=["POST"]),
        Route("/v1/messages", gw.messages, methods=["POST"]),
        Route("/v1/responses", gw.responses, methods=["POST"]),
        Route("/v1/models", gw.models, methods=["GET"]),
        Route("/metrics", gw.metrics_endpoint, methods=["GET"]),
        Route("/health", gw.health, methods=["GET"]),
    ]
    app = _GatewayApp(gw, routes=routes, lifespan=gw.lifespan)
    app.state.gateway = gw
    return app


class _GatewayApp(Starlette):
    """Starlette, with ``POST /v1/chat/completions`` (nearly all the traffic) sent
    straight to its handler: past the router and the two exception middlewares, which
    wrap ``send`` in a coroutine each and so cost two more awaits for every SSE frame
    of every stream. The handler answers every error it expects itself; anything else
    propagates to the server, which logs it and answers 500, as the middleware would."""

    def __init__(self, gw: Gateway, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._chat = gw.chat_completions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/v1/chat/completions"
            and scope["method"] == "POST"
        ):
            scope["app"] = self
            response = await self._chat(Request(scope, receive))
            await response(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
