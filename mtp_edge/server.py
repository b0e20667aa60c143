"""An OpenAI-compatible HTTP server for one MTPModel (FastAPI + uvicorn + sse-starlette).

Endpoints: POST /v1/chat/completions, POST /v1/completions (both with `stream`), GET /v1/models, GET /health.
Extra request fields: `mtp_k_max`, `mtp_tau`, `mtp_mode`, `top_k`, `min_p`, `repeat_penalty`; the response's
`usage` carries `mtp_passes`, `mtp_eff_k`, `mtp_agreement` and `mtp_decode_tps`.

One model decodes one request at a time: requests wait in a bounded FIFO queue (a single worker thread), and a
full queue answers 503 at once. Streaming runs in the worker and hands chunks to the event loop; a client that
disconnects sets a flag the worker checks after every pass, so the model is freed within one pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse
from starlette.background import BackgroundTask

if TYPE_CHECKING:
    from .model import MTPModel

log = logging.getLogger("mtp_edge.server")
_END = object()


# -- request bodies ---------------------------------------------------------------------------------------
class _Common(BaseModel):
    """Fields both endpoints share; unknown fields are ignored, as OpenAI-compatible servers do."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    max_tokens: int | None = Field(None, ge=0)
    temperature: float = Field(0.0, ge=0.0, le=2.0)  # greedy by default: ConfAdapt's home ground
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    top_k: int = Field(40, ge=0)
    min_p: float = Field(0.05, ge=0.0, le=1.0)
    repeat_penalty: float = Field(1.0, gt=0.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    n: int = Field(1, ge=1, le=1)
    mtp_k_max: Annotated[int, Field(ge=1)] | Literal["auto"] | None = Field(
        None, description="tokens per pass at most; 1 = plain decoding; 'auto' = as many masks as pay here")
    mtp_tau: float | None = Field(None, gt=0.0, le=1.0, description="ConfAdapt threshold")
    mtp_mode: Literal["confadapt", "static", "lossless", "confadapt_verify"] | None = None

    def options(self) -> dict[str, Any]:
        return dict(max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                    min_p=self.min_p, repeat_penalty=self.repeat_penalty, seed=self.seed, stop=self.stop,
                    k_max=self.mtp_k_max, tau=self.mtp_tau, mode=self.mtp_mode)


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[TextPart]

    def plain(self) -> dict[str, str]:
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        return {"role": "system" if self.role == "developer" else self.role, "content": text}


class ChatRequest(_Common):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=0)


class CompletionRequest(_Common):
    prompt: str = Field(min_length=1)


# -- errors -----------------------------------------------------------------------------------------------
def error(status: int, message: str, kind: str = "invalid_request_error", **headers: str) -> JSONResponse:
    """An OpenAI-shaped error body."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": status}},
                        status_code=status, headers=headers or None)


def _error_status(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, (ValueError, TypeError)):  # MTPModel's way of saying "bad option or prompt"
        return 400, "invalid_request_error"
    return 500, "server_error"


# -- the model's queue ------------------------------------------------------------------------------------
class ModelQueue:
    """Runs jobs on the model one at a time in a worker thread; admits at most 1 running + `max_queue` waiting."""

    def __init__(self, model: MTPModel, max_queue: int) -> None:
        if max_queue < 0:
            raise ValueError(f"max_queue = {max_queue} must be >= 0")
        self.model = model
        self.max_queue = max_queue
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtp-model")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self.stopping = threading.Event()

    def admit(self) -> bool:
        with self._lock:
            if self._admitted >= 1 + self.max_queue:
                return False
            self._admitted += 1
            return True

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"running": self._running, "queued": self._admitted - self._running, "max_queue": self.max_queue}

    def submit(self, job: Callable[[], Any]) -> asyncio.Future:
        """Run `job` in the worker (the caller has been admitted); the slot is freed when it ends."""

        def wrapped() -> Any:
            with self._lock:
                self._running += 1
            try:
                return job()
            finally:
                with self._lock:
                    self._running -= 1
                    self._admitted -= 1

        return asyncio.wrap_future(self._executor.submit(wrapped))


def _pump(chunks: Callable[[], Iterator[dict]], put: Callable[[Any], None], cancelled: threading.Event,
          stopping: threading.Event) -> None:
    """Worker side of a stream: iterate the model's chunks into `put` until done, cancelled or failed."""
    if cancelled.is_set():
        return  # the client left while waiting in the queue
    sent = 0
    try:
        iterator = chunks()
        try:
            for chunk in iterator:
                if cancelled.is_set() or stopping.is_set():
                    why = "client disconnected" if cancelled.is_set() else "server shutting down"
                    log.info("%s: stopped the generation after %d chunks", why, sent)
                    return
                put(chunk)
                sent += 1
        finally:
            iterator.close()  # releases the model's lock in this thread, before the next job starts
        put(_END)
    except Exception as exc:  # noqa: BLE001  (reported to the client, never kills the worker)
        put(exc)


async def _stream(queue: ModelQueue, chunks: Callable[[], Iterator[dict]], prefetch: int):
    """Start a streamed job; return an error response, or an SSE response over its chunks."""
    loop = asyncio.get_running_loop()
    items: asyncio.Queue = asyncio.Queue()
    cancelled = threading.Event()
    queue.submit(lambda: _pump(chunks, lambda x: loop.call_soon_threadsafe(items.put_nowait, x), cancelled,
                               queue.stopping))
    # Wait for the first chunk that needed the model, so that a bad option still gets a 400, not a broken stream.
    first: list[Any] = []
    try:
        while len(first) < prefetch and (not first or isinstance(first[-1], dict)):
            first.append(await items.get())
    except asyncio.CancelledError:
        cancelled.set()
        raise
    if isinstance(first[-1], BaseException):
        cancelled.set()
        status, kind = _error_status(first[-1])
        return error(status, str(first[-1]), kind)

    async def events() -> AsyncIterator[dict[str, str]]:
        try:
            pending = list(first)
            while True:
                item = pending.pop(0) if pending else await items.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    status, kind = _error_status(item)
                    yield {"data": json.dumps({"error": {"message": str(item), "type": kind, "code": status}})}
                    break
                yield {"data": json.dumps(item)}
            yield {"data": "[DONE]"}
        finally:
            cancelled.set()  # a disconnect cancels this generator: tell the worker to stop

    return EventSourceResponse(events(), background=BackgroundTask(cancelled.set), ping=15)


# -- the app ----------------------------------------------------------------------------------------------
def create_app(model: MTPModel, *, model_name: str | None = None, max_queue: int = 8) -> FastAPI:
    """The FastAPI app serving `model`.

    Args:
        model: the loaded MTPModel (the server owns it from now on: one request decodes at a time).
        model_name: the id /v1/models reports (default: the GGUF's general.name, else the file name).
        max_queue: requests allowed to wait while one runs; more get 503.
    """
    from pathlib import Path

    name = model_name or model.metadata.name or Path(model.metadata.path).stem
    queue = ModelQueue(model, max_queue)
    created = int(time.time())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        queue.stopping.set()  # on shutdown, running streams end after their current pass

    app = FastAPI(title="mtp-edge", description="OpenAI-compatible multi-token-prediction server", lifespan=lifespan)
    app.state.queue = queue

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = lambda e: ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"  # noqa: E731
        msg = "; ".join(f"{where(e)}: {e.get('msg')}" for e in exc.errors()[:5])
        return error(422, f"invalid request: {msg}")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": name, **queue.counts()}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        meta = model.metadata
        return {"object": "list", "data": [{
            "id": name, "object": "model", "created": created, "owned_by": "mtp-edge",
            "mtp": {"is_mtp": model.is_mtp, "k_max": model.default_k_max, "tau": model.default_tau,
                    "prompt_format": model.prompt_format, "n_ctx": model.n_ctx, "architecture": meta.architecture},
        }]}

    async def run(body: _Common, call: Callable[..., Any], prefetch: int):
        if not queue.admit():
            return error(503, f"the server is busy: {queue.max_queue} requests are already waiting for the "
                              "model; retry later", "server_busy", **{"Retry-After": "1"})
        if body.stream:
            return await _stream(queue, lambda: call(stream=True), prefetch)
        try:
            return await queue.submit(lambda: call(stream=False))
        except Exception as exc:  # noqa: BLE001
            status, kind = _error_status(exc)
            if status == 500:
                log.exception("generation failed")
            return error(status, str(exc), kind)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest):
        options = body.options()
        if body.max_completion_tokens is not None and body.max_tokens is None:
            options["max_tokens"] = body.max_completion_tokens
        messages = [m.plain() for m in body.messages]
        # prefetch 2: the role chunk comes before any model work, the next one after the first pass.
        return await run(body, lambda stream: model.create_chat_completion(messages, stream=stream, **options), 2)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest):
        options = body.options()
        return await run(body, lambda stream: model.create_completion(body.prompt, stream=stream, **options), 1)

    return app


def serve(model: MTPModel, *, host: str = "127.0.0.1", port: int = 8000, model_name: str | None = None,
          max_queue: int = 8, log_level: str = "info") -> None:
    """Serve `model` with uvicorn until interrupted."""
    import uvicorn

    app = create_app(model, model_name=model_name, max_queue=max_queue)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
