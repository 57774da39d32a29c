"""A small OpenAI-compatible server on loopback, for the real ``openai`` client.

It answers ``POST /v1/embeddings`` with deterministic unit vectors (the local hashing
embedder's, at the requested dimension) and ``POST /v1/chat/completions`` with a thesis in the
requested JSON schema, read from ``field: value`` lines of the documents in the user message
(``thesis_answer``), as a model would understand them. It records every request and plays a
fault plan, one entry per request, before answering normally: ``("429", seconds)`` with
Retry-After, ``("500",)``, ``("timeout", seconds)`` (sleeps before answering),
``("malformed",)`` (one vector short; for a chat, content that is not JSON), ``("refusal",)``
(a chat answer refused).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from invest_assets.resources.embedders import EmbedderResource


class FakeOpenAI:
    def __init__(self):
        self.requests: list[list[str]] = []  # inputs of every request that got vectors back
        self.chats: list[dict] = []  # every chat request answered normally
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

    def _chat(self, body: dict, fault: tuple | None) -> dict:
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        message = {"role": "assistant", "content": json.dumps(thesis_answer(user)), "refusal": None}
        if fault and fault[0] == "refusal":
            message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
        elif fault and fault[0] == "malformed":
            message["content"] = message["content"][:-7]  # cut off mid-answer
        prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
        output_tokens = len((message["content"] or message["refusal"]).split())
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": prompt_tokens + output_tokens,
            },
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
                if self.path.endswith("/chat/completions"):
                    answer = fake._chat(body, fault)
                    if not fault or fault[0] != "timeout":
                        with fake._lock:
                            fake.chats.append(body)
                    return self._send(200, answer)
                answer = fake._answer(body)
                if fault and fault[0] == "malformed":
                    answer["data"] = answer["data"][:-1]
                    return self._send(200, answer)
                if not fault:  # a late answer to a timed-out request is one the client dropped
                    with fake._lock:
                        fake.requests.append(list(body["input"]))
                self._send(200, answer)

        return Handler


THESIS_LINE = re.compile(r"^(\w+): (.*)$", re.MULTILINE)
LIST_FIELDS = ("stages", "sectors", "geographies")


def thesis_answer(user_message: str) -> dict:
    """The fake model's reading of an investor's documents: each ``field: value`` line (``check_min``
    and ``check_max`` in USD, lists comma-separated) says that field; everything else is null or []."""
    said = dict(THESIS_LINE.findall(user_message))
    answer = {
        field: said.get(field)
        for field in (
            *(f"{d}_text" for d in ("sector", "stage", "check", "geography", "signal", "founder")),
            "thesis_summary",
            "thesis_summary_long",
        )
    }
    answer |= {f: [v.strip() for v in said[f].split(",")] if f in said else [] for f in LIST_FIELDS}
    answer["check_size_min_usd"] = int(said["check_min"]) if "check_min" in said else None
    answer["check_size_max_usd"] = int(said["check_max"]) if "check_max" in said else None
    return answer
