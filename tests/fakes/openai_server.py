"""A small OpenAI-compatible server on loopback, for the real ``openai`` client.

It answers ``POST /v1/embeddings`` with deterministic unit vectors (the local hashing
embedder's, at the requested dimension) and ``POST /v1/chat/completions`` with a thesis in the
requested JSON schema, read from ``field: value`` lines of the documents in the user message
(``thesis_answer``), as a model would understand them. It records every request and plays a
fault plan, one entry per request, before answering normally: ``("429", seconds)`` with
Retry-After, ``("500",)``, ``("timeout", seconds)`` (sleeps before answering),
``("malformed",)`` (one vector short; for a chat, content that is not JSON), ``("refusal",)``
(a chat answer refused).

It also speaks the Batch API: ``POST /v1/files`` (a JSONL upload), ``POST /v1/batches``, ``GET
/v1/batches`` and ``/v1/batches/{id}``, ``GET /v1/files/{id}/content``. A batch is answered line by line
as the chat endpoint answers, on the first poll after ``batch_polls`` polls, unless ``hold_batches``;
``batch_line_faults`` fails the lines whose request contains one of its texts into the error file,
and ``expire_batches`` makes a batch expire with only its first half answered.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from invest_assets.resources.embedders import EmbedderResource


class FakeOpenAI:
    def __init__(self):
        self.requests: list[list[str]] = []  # inputs of every request that got vectors back
        self.chats: list[dict] = []  # every chat request answered normally
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batch_polls = 1
        self.hold_batches = False
        self.expire_batches = False
        self.batch_line_faults: set[str] = set()
        self.polls = 0
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

    def _store(self, data: bytes) -> dict:
        with self._lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = data
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": 0, "filename": file_id,
                "purpose": "batch", "status": "processed"}  # fmt: skip

    def _create_batch(self, body: dict) -> dict:
        with self._lock:
            batch_id = f"batch-{len(self.batches) + 1}"
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "input_file_id": body["input_file_id"],
                "completion_window": body["completion_window"], "status": "in_progress", "created_at": 0,
                "output_file_id": None, "error_file_id": None, "polls": 0,
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
            }  # fmt: skip
            return self._public(self.batches[batch_id])

    @staticmethod
    def _public(batch: dict) -> dict:
        return {k: v for k, v in batch.items() if k != "polls"}

    def _poll(self, batch_id: str) -> dict:
        batch = self.batches[batch_id]
        with self._lock:
            self.polls += 1
            batch["polls"] += 1
            ready = not self.hold_batches and batch["polls"] >= self.batch_polls
        if ready and batch["status"] == "in_progress":
            self._finish(batch)
        return self._public(batch)

    def _finish(self, batch: dict) -> None:
        lines = [json.loads(line) for line in self.files[batch["input_file_id"]].decode().splitlines()]
        answered, failed = [], []
        for n, line in enumerate(lines):
            expired = self.expire_batches and n >= len(lines) // 2
            if expired or any(marker in json.dumps(line["body"]) for marker in self.batch_line_faults):
                code = "batch_expired" if expired else "server_error"
                failed.append({"id": f"r{n}", "custom_id": line["custom_id"], "response": None,
                               "error": {"code": code, "message": "injected"}})  # fmt: skip
                continue
            completion = (
                self._answer(line["body"])
                if batch["endpoint"].endswith("/embeddings")
                else self._chat(line["body"], None)
            )
            answered.append({"id": f"r{n}", "custom_id": line["custom_id"], "error": None,
                             "response": {"status_code": 200, "request_id": f"q{n}", "body": completion}})  # fmt: skip
        jsonl = [("".join(json.dumps(x) + "\n" for x in rows)).encode() for rows in (answered, failed)]
        batch["output_file_id"] = self._store(jsonl[0])["id"] if answered else None
        batch["error_file_id"] = self._store(jsonl[1])["id"] if failed else None
        batch["status"] = "expired" if self.expire_batches else "completed"
        batch["request_counts"] = {"total": len(lines), "completed": len(answered), "failed": len(failed)}

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

            def do_GET(self):  # noqa: N802 (http.server's naming)
                path = self.path.split("?")[0]
                if path.endswith("/batches"):
                    data = [fake._public(b) for b in fake.batches.values()]
                    return self._send(200, {"object": "list", "data": data, "has_more": False})
                if "/batches/" in path:
                    return self._send(200, fake._poll(path.rsplit("/", 1)[1]))
                if path.endswith("/content"):
                    data = fake.files[path.split("/")[-2]]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    return self.wfile.write(data)
                self._send(404, {"error": {"message": f"no {path}", "type": "invalid_request_error"}})

            def do_POST(self):  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path.endswith("/files"):
                    return self._send(200, fake._store(uploaded_file(raw, self.headers["Content-Type"])))
                body = json.loads(raw)
                if self.path.endswith("/batches"):
                    return self._send(200, fake._create_batch(body))
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


def kill_while_polling(fake: FakeOpenAI, asset: str, polls: int = 3, **env: str) -> None:
    """``dagster asset materialize`` ``asset`` against ``fake`` (which holds its batches) with ``env``
    added to this process's, and SIGKILL it once it has polled ``polls`` times; then let batches finish."""
    fake.hold_batches = True
    env = dict(os.environ, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test", **env)
    dagster = Path(sys.executable).parent / "dagster"
    command = [dagster, "asset", "materialize", "-m", "invest_assets.definitions", "--select", asset]
    run = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while fake.polls < polls and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert fake.polls >= polls, "the run never waited for its batch"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    fake.hold_batches = False


def uploaded_file(body: bytes, content_type: str) -> bytes:
    """The ``file`` part of a multipart/form-data upload."""
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, _, content = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return content.removesuffix(b"\r\n")
    raise ValueError("no file part in the upload")
