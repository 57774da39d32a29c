"""A small OpenAI-compatible embeddings server on loopback, for the real ``openai`` client.

It answers ``POST /v1/embeddings`` with deterministic unit vectors (the local hashing
embedder's, at the requested dimension), records every request's inputs, and plays a
fault plan, one entry per request, before answering normally: ``("429", seconds)``
with Retry-After, ``("500",)``, ``("timeout", seconds)`` (sleeps before answering),
``("malformed",)`` (one vector short).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from invest_assets.resources.embedders import EmbedderResource


class FakeOpenAI:
    def __init__(self):
        self.requests: list[list[str]] = []  # inputs of every request that got vectors back
        self.attempts = 0
        self.faults: deque[tuple] = deque()
        self.authorization: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def inputs(self) -> list[str]:
        return [text for request in self.requests for text in request]

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self) -> tuple | None:
        with self._lock:
            self.attempts += 1
            return self.faults.popleft() if self.faults else None  # a None entry answers normally

    def _answer(self, body: dict) -> dict:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = EmbedderResource(provider="local", dimensions=body.get("dimensions", 1536)).embed(inputs).vectors
        tokens = sum(len(text.split()) for text in inputs)
        return {
            "object": "list",
            "model": body["model"],
            "data": [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.authorization.append(self.headers.get("Authorization", ""))
                fault = fake._next_fault()
                error = {"error": {"message": "injected", "type": "server_error"}}
                if fault and fault[0] == "429":
                    return self._send(429, error, {"Retry-After": str(fault[1])})
                if fault and fault[0] == "500":
                    return self._send(500, error)
                if fault and fault[0] == "timeout":
                    time.sleep(fault[1])
                answer = fake._answer(body)
                if fault and fault[0] == "malformed":
                    answer["data"] = answer["data"][:-1]
                    return self._send(200, answer)
                if not fault:  # a late answer to a timed-out request is one the client dropped
                    with fake._lock:
                        fake.requests.append(list(body["input"]))
                self._send(200, answer)

        return Handler
