"""The one bridge between the Qt UI thread and the async engine.

One asyncio event loop runs on a dedicated worker thread ("centwise-engine"). The UI
submits work with :meth:`EngineBridge.run` (a coroutine), :meth:`EngineBridge.call`
(a blocking ledger read, run on a one-thread pool so a slow page never stalls a
streaming reply), :meth:`EngineBridge.call_slow` (seconds of work, such as tuning the
cache threshold, on its own thread so ledger reads are not queued behind it) or
:meth:`EngineBridge.call_on_loop` (a quick sync call that must share the loop's thread,
such as token counting). :meth:`EngineBridge.call_content` checks and decodes what the user
attaches (tool JSON, images) on threads of its own, so a big image waits neither for a
ledger page nor for the UI. :meth:`EngineBridge.reopen` swaps in a new engine (a saved
config) and closes the old one once its work is done. Results and stream deltas come back
to the UI thread only through queued Qt signals; no widget is touched off-thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import uuid
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, Signal

from core.engine import Engine
from core.types import ToolCallDelta

__all__ = ["EngineBridge", "ErrorCallback", "OffThread", "ResultCallback"]

ResultCallback = Callable[[Any], None]
ErrorCallback = Callable[[BaseException], None]
#: Threads for checking and decoding attachments (JSON checks are quick, images not).
_CONTENT_THREADS = 2


class OffThread(Protocol):
    """Runs ``fn(*args)`` off the UI thread; the callbacks run later on the UI thread
    (:meth:`EngineBridge.call_content` is one). What a widget that only needs work done
    off-thread takes, rather than the whole bridge."""

    def __call__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> object: ...


class EngineBridge(QObject):
    """Owns the engine's event loop thread; everything crosses back by signal.

    ``delta(tag, text)`` streams a reply's text, ``tool_delta(tag, piece)`` its tool
    calls (:class:`~core.types.ToolCallDelta` pieces), ``reply_done(tag, record, error)``
    ends it (``record`` may be None only if the pipeline never started), and
    ``error_occurred(exc)`` reports failures of calls submitted without ``on_error``.
    """

    delta = Signal(str, str)
    tool_delta = Signal(str, object)
    reply_done = Signal(str, object, object)
    error_occurred = Signal(object)
    _deliver = Signal(object, object)

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="centwise-ledger")
        self._slow = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="centwise-work")
        self._content = concurrent.futures.ThreadPoolExecutor(
            _CONTENT_THREADS, thread_name_prefix="centwise-content"
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stop_early: set[str] = set()  # Stop pressed before the reply's task ran
        self._deliver.connect(self._on_deliver, Qt.ConnectionType.QueuedConnection)
        self._thread = threading.Thread(target=self._run_loop, name="centwise-engine", daemon=True)
        self._thread.start()

    # -- submitting work ---------------------------------------------------------

    def run(
        self,
        coro: Coroutine[Any, Any, Any],
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> concurrent.futures.Future[Any] | None:
        """Run ``coro`` on the engine loop; callbacks run later on the UI thread."""
        if self._closed:
            coro.close()
            return None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        future.add_done_callback(partial(self._post, on_result, on_error))
        return future

    def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
        **kwargs: Any,
    ) -> concurrent.futures.Future[Any] | None:
        """Run a blocking engine read on the ledger thread."""
        return self._submit(self._pool, fn, args, kwargs, on_result, on_error)

    def call_slow(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
        **kwargs: Any,
    ) -> concurrent.futures.Future[Any] | None:
        """Run long blocking work (embedding, tuning) on its own worker thread."""
        return self._submit(self._slow, fn, args, kwargs, on_result, on_error)

    def call_content(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
        **kwargs: Any,
    ) -> concurrent.futures.Future[Any] | None:
        """Check or decode user content (tool JSON, a JSON Schema, an image) off the UI
        thread; needs no engine, so it never queues behind ledger reads or tuning."""
        return self._submit(self._content, fn, args, kwargs, on_result, on_error)

    def _submit(
        self,
        pool: concurrent.futures.ThreadPoolExecutor,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        on_result: ResultCallback | None,
        on_error: ErrorCallback | None,
    ) -> concurrent.futures.Future[Any] | None:
        if self._closed:
            return None
        future = pool.submit(fn, *args, **kwargs)
        future.add_done_callback(partial(self._post, on_result, on_error))
        return future

    def reopen(
        self,
        open_engine: Callable[[], Engine],
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> concurrent.futures.Future[Any] | None:
        """Open a new engine with ``open_engine()`` and make it :attr:`engine`.

        New work goes to the new engine at once; the old one is closed after its
        running replies and the reads already queued for it have finished. If opening
        fails, the old engine stays. ``on_result`` gets the new engine.
        """
        return self.run(self._reopen(open_engine), on_result, on_error)

    async def _reopen(self, open_engine: Callable[[], Engine]) -> Engine:
        new = open_engine()
        old, self.engine = self.engine, new
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for pool in (self._pool, self._slow):  # barriers: queued reads finish first
            await asyncio.wrap_future(pool.submit(lambda: None))
        await old.aclose()
        return new

    def call_on_loop(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
        **kwargs: Any,
    ) -> concurrent.futures.Future[Any] | None:
        """Run a quick sync engine call on the loop thread (e.g. ``engine.estimate``)."""

        async def job() -> Any:
            return fn(*args, **kwargs)

        return self.run(job(), on_result, on_error)

    # -- streaming replies -------------------------------------------------------

    def start_reply(self, prompt: str, **options: Any) -> str:
        """Start ``engine.ask(prompt, **options)``; returns the tag its signals carry."""
        tag = uuid.uuid4().hex
        self.run(self._consume(tag, prompt, options))
        return tag

    def cancel_reply(self, tag: str) -> None:
        """Stop a running reply: cancel its task, then ``await reply.cancel()``."""
        if not self._closed:
            self._loop.call_soon_threadsafe(self._cancel_task, tag)

    @property
    def running_replies(self) -> int:
        return len(self._tasks)

    async def _consume(self, tag: str, prompt: str, options: dict[str, Any]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks[tag] = task
        if tag in self._stop_early:
            # Cancel at the pipeline's first suspension, so the record says "cancelled".
            self._stop_early.discard(tag)
            task.cancel()
        reply = None
        error: BaseException | None = None
        try:
            reply = self.engine.ask(prompt, **options)
            async for piece in reply:
                if isinstance(piece, ToolCallDelta):
                    self.tool_delta.emit(tag, piece)
                else:
                    self.delta.emit(tag, piece)
        except asyncio.CancelledError:
            # The cancellation ran through the pipeline (the record says "cancelled");
            # reply.cancel() closes whatever is left of the stream and hands the record.
            if reply is not None:
                await reply.cancel()
        except Exception as e:  # every failure reaches the UI as a readable message
            error = e
        finally:
            self._tasks.pop(tag, None)
        if not self._closed:
            self.reply_done.emit(tag, reply.record if reply else None, error)

    def _cancel_task(self, tag: str) -> None:
        task = self._tasks.get(tag)
        if task is not None:
            task.cancel()
        else:
            self._stop_early.add(tag)

    # -- plumbing ----------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _post(
        self,
        on_result: ResultCallback | None,
        on_error: ErrorCallback | None,
        future: concurrent.futures.Future[Any],
    ) -> None:
        # Runs on a worker thread: hand the outcome to the UI thread by signal only.
        if self._closed or future.cancelled():
            return
        error = future.exception()
        if error is None:
            if on_result is not None:
                self._deliver.emit(on_result, future.result())
        elif on_error is not None:
            self._deliver.emit(on_error, error)
        else:
            self._deliver.emit(self.error_occurred.emit, error)

    def _on_deliver(self, callback: Callable[[Any], None], value: Any) -> None:
        if not self._closed:
            callback(value)

    def shutdown(self, *, close_engine: bool = True, timeout: float = 10.0) -> None:
        """Cancel running replies, close the engine on its loop, stop and join the thread."""
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._slow.shutdown(wait=True, cancel_futures=True)
        self._content.shutdown(wait=True, cancel_futures=True)
        future = asyncio.run_coroutine_threadsafe(self._final(close_engine), self._loop)
        try:
            future.result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._loop.close()

    async def _final(self, close_engine: bool) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if close_engine:
            await self.engine.aclose()
        await self._loop.shutdown_asyncgens()
