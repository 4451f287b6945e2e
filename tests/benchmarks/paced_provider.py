"""A paced OpenAI look-alike for benchmarks: one asyncio loop, no threads.

The fault-injecting servers in tests/integration/servers run a thread per connection,
which is what tests want; under 50 paced streams their threads contend for the GIL
and the replies' timing drifts by milliseconds, which is noise in an overhead
benchmark. This one serves the same frames (``OpenAIDialect.frames``: a role chunk,
one delta per word, a finish chunk, a usage chunk, ``[DONE]``; for a request with
tools, a tool call whose arguments come in as many deltas) over keep-alive
HTTP/1.1 with chunked encoding, with the first byte after ``ttft`` seconds and the
frames ``pace`` seconds apart, timed by the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from typing import Any

from tests.integration.servers import Behaviour, OpenAIDialect

__all__ = ["serve_paced"]


async def _handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    replies: tuple[list[bytes], list[bytes]],
    ttft: float,
    pace: float,
) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body: Any = json.loads(await reader.readexactly(length)) if length else {}
            if not isinstance(body, dict) or not body.get("stream"):
                raise ConnectionError("this look-alike only streams")
            frames = replies[1] if body.get("tools") else replies[0]
            await asyncio.sleep(ttft)
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            for i, frame in enumerate(frames):
                if i and pace:
                    await asyncio.sleep(pace)
                writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    writer.close()


def serve_paced(port_out: Any, stop: Any, ttft: float, pace: float, words: int) -> None:
    """Run until ``stop`` (a multiprocessing Event) is set; put the base URL on
    ``port_out`` (a multiprocessing Queue) once listening. Meant as a process target."""
    text = " ".join(["word"] * words)
    frames = OpenAIDialect().frames(Behaviour(text=text), "gpt-4o-mini")
    # A request that declares tools is answered with a tool call whose arguments come
    # in as many deltas as the text would.
    arguments = json.dumps({"city": text})
    call = Behaviour(text="", tool_calls=[("call_1", "get_weather", arguments)], tool_chunks=words)
    tool_frames = OpenAIDialect().frames(call, "gpt-4o-mini")

    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: _handle(r, w, (frames, tool_frames), ttft, pace),
            "127.0.0.1",
            0,
            backlog=1024,
        )
        port = server.sockets[0].getsockname()[1]
        # A tiny server whose garbage is a few objects per connection: keep the
        # collector's pauses out of the replies' pacing.
        gc.collect()
        gc.freeze()
        gc.disable()
        port_out.put(f"http://127.0.0.1:{port}/v1")
        async with server:
            while not stop.is_set():
                await asyncio.sleep(0.1)

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        asyncio.run(main())
