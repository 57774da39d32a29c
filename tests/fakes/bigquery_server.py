"""A loopback HTTP server speaking the part of the BigQuery REST API that the real
``google-cloud-bigquery`` client uses to run a query and page through its results.

Received GoogleSQL is translated to DuckDB with sqlglot and run on an in-memory DuckDB
database with the query parameters bound; results are kept per job and served page by
page (``maxResults`` / ``pageToken``) in BigQuery's JSON row encoding. It also answers
the OAuth token endpoint, so the client's real credential refresh runs against it.

Point the client at it with ``BIGQUERY_EMULATOR_HOST`` (as ``dagster_gcp.BigQueryResource``
builds its own client) or ``client_options={"api_endpoint": server.url}``.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

DEFAULT_PAGE_ROWS = 1000
API_PREFIX = "/bigquery/v2/projects/"


class BigQueryError(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status, self.reason = status, reason


def translate(sql: str) -> str:
    """GoogleSQL -> DuckDB. Datasets are DuckDB schemas; the project part of a table path is dropped."""
    try:
        statements = sqlglot.parse(sql, read="bigquery")
    except sqlglot.errors.ParseError as err:
        raise BigQueryError(400, "invalidQuery", f"Syntax error: {err}") from None
    for statement in statements:
        for table in statement.find_all(exp.Table):
            table.set("catalog", None)
        for data_type in statement.find_all(exp.DataType):
            if data_type.this == exp.DataType.Type.DECIMAL and not data_type.expressions:
                data_type.replace(exp.DataType.build("DECIMAL(38, 9)", dialect="duckdb"))
    return ";\n".join(statement.sql(dialect="duckdb") for statement in statements)


def _scalar_parameter(kind: str, value):
    if value is None:
        return None
    converters = {
        "TIMESTAMP": lambda v: datetime.fromisoformat(v.replace(" ", "T")),
        "DATETIME": lambda v: datetime.fromisoformat(v.replace(" ", "T")),
        "DATE": date.fromisoformat,
        "INT64": int,
        "NUMERIC": Decimal,
        "BIGNUMERIC": Decimal,
        "FLOAT64": float,
        "BOOL": lambda v: v.lower() == "true",
        "STRING": str,
    }
    return converters[kind](value)


def bind_parameters(parameters: list[dict]) -> dict:
    """BigQuery named queryParameters -> DuckDB ``$name`` values."""
    bound = {}
    for parameter in parameters:
        kind = parameter["parameterType"]["type"]
        value = parameter.get("parameterValue", {})
        if kind == "ARRAY":
            item_kind = parameter["parameterType"]["arrayType"]["type"]
            bound[parameter["name"]] = [_scalar_parameter(item_kind, v.get("value")) for v in value["arrayValues"]]
        else:
            bound[parameter["name"]] = _scalar_parameter(kind, value.get("value"))
    return bound


def _field_type(arrow_type: pa.DataType) -> tuple[str, str]:
    """(BigQuery type, mode) of an Arrow result column."""
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return _field_type(arrow_type.value_type)[0], "REPEATED"
    checks = [
        (pa.types.is_boolean, "BOOLEAN"),
        (pa.types.is_integer, "INTEGER"),
        (pa.types.is_floating, "FLOAT"),
        (pa.types.is_decimal, "NUMERIC"),
        (pa.types.is_date, "DATE"),
        (pa.types.is_timestamp, "TIMESTAMP"),
        (pa.types.is_string, "STRING"),
        (pa.types.is_large_string, "STRING"),
    ]
    kind = next((name for check, name in checks if check(arrow_type)), None)
    if kind is None:
        raise BigQueryError(400, "invalidQuery", f"result type {arrow_type} is not supported by the fake")
    return kind, "NULLABLE"


def _cell(value, int64_timestamps: bool, repeated: bool = False):
    if value is None:
        return [] if repeated else None  # BigQuery returns a NULL array as an empty one
    if isinstance(value, list):
        return [{"v": _cell(item, int64_timestamps)} for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        micros = (value - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
        return str(micros) if int64_timestamps else f"{micros / 1e6:.6f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


class QueryResult:
    def __init__(self, job_id: str, project: str, location: str, sql: str, table: pa.Table):
        self.job_id, self.project, self.location, self.sql, self.table = job_id, project, location, sql, table
        self.schema = {
            "fields": [
                dict(zip(("name", "type", "mode"), (field.name, *_field_type(field.type)), strict=True))
                for field in table.schema
            ]
        }

    def reference(self) -> dict:
        return {"projectId": self.project, "jobId": self.job_id, "location": self.location}

    def job_resource(self) -> dict:
        return {
            "kind": "bigquery#job",
            "id": f"{self.project}:{self.location}.{self.job_id}",
            "jobReference": self.reference(),
            "configuration": {"jobType": "QUERY", "query": {"query": self.sql, "useLegacySql": False}},
            "status": {"state": "DONE"},
            "statistics": {"creationTime": "0", "startTime": "0", "endTime": "0", "query": {"statementType": "SELECT"}},
        }

    @staticmethod
    def _cells(row: dict, modes: list[bool], int64_timestamps: bool) -> list[dict]:
        return [{"v": _cell(v, int64_timestamps, repeated)} for v, repeated in zip(row.values(), modes, strict=True)]

    def page(self, start: int, max_rows: int, int64_timestamps: bool) -> dict:
        rows = self.table.slice(start, max_rows).to_pylist()
        modes = [field["mode"] == "REPEATED" for field in self.schema["fields"]]
        response = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": self.reference(),
            "jobComplete": True,
            "schema": self.schema,
            "totalRows": str(self.table.num_rows),
            "rows": [{"f": self._cells(row, modes, int64_timestamps)} for row in rows],
        }
        if start + len(rows) < self.table.num_rows:
            response["pageToken"] = base64.urlsafe_b64encode(str(start + len(rows)).encode()).decode()
        return response


class FakeBigQuery:
    """The server state: one DuckDB database, finished query jobs, and the requests seen."""

    def __init__(self, page_rows: int = DEFAULT_PAGE_ROWS):
        self.duckdb = duckdb.connect(":memory:")
        self.page_rows = page_rows
        self.jobs: dict[str, QueryResult] = {}
        self.requests: list[tuple[str, str]] = []
        self.queries: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeBigQuery:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()
        self.duckdb.close()

    def execute(self, sql: str, parameters: dict | None = None) -> pa.Table:
        """Run GoogleSQL (translated) on the fake's DuckDB database."""
        with self._lock:
            cursor = self.duckdb.cursor()
            try:
                relation = cursor.sql(translate(sql), params=parameters or None)
                return relation.to_arrow_table() if relation is not None else pa.table({})
            except duckdb.CatalogException as err:  # as BigQuery answers a query of a missing table
                raise BigQueryError(404, "notFound", f"Not found: Table: {err}") from None
            except duckdb.Error as err:
                raise BigQueryError(400, "invalidQuery", str(err)) from None
            finally:
                cursor.close()

    def run_query(self, project: str, body: dict, job_id: str | None, location: str) -> QueryResult:
        if body.get("useLegacySql", True) is not False:
            raise BigQueryError(400, "invalid", "the fake only runs GoogleSQL (useLegacySql=false)")
        parameters = bind_parameters(body.get("queryParameters", []))
        self.queries.append((body["query"], parameters))
        result = QueryResult(
            job_id or f"job_{uuid.uuid4().hex}",
            project,
            location,
            body["query"],
            self.execute(body["query"], parameters),
        )
        self.jobs[result.job_id] = result
        return result

    def job(self, job_id: str) -> QueryResult:
        if job_id not in self.jobs:
            raise BigQueryError(404, "notFound", f"Not found: Job {job_id}")
        return self.jobs[job_id]


def _page_start(query: dict) -> int:
    if "pageToken" in query:
        return int(base64.urlsafe_b64decode(query["pageToken"]).decode())
    return int(query.get("startIndex", 0))


def _route(fake: FakeBigQuery, method: str, path: str, query: dict, body: dict) -> dict:
    if path == "/token":
        return {"access_token": f"fake-{uuid.uuid4().hex}", "expires_in": 3600, "token_type": "Bearer"}
    if not path.startswith(API_PREFIX):
        raise BigQueryError(404, "notFound", f"no such API path {path}")
    parts = path.removeprefix(API_PREFIX).split("/")
    project, rest = parts[0], parts[1:]
    int64_timestamps = query.get("formatOptions.useInt64Timestamp", "false").lower() == "true"
    page_rows = int(query.get("maxResults", fake.page_rows))
    if method == "POST" and rest == ["jobs"]:  # jobs.insert
        reference = body.get("jobReference", {})
        result = fake.run_query(
            project, body["configuration"]["query"], reference.get("jobId"), reference.get("location") or "US"
        )
        return result.job_resource()
    if method == "GET" and len(rest) == 2 and rest[0] == "jobs":  # jobs.get
        return fake.job(rest[1]).job_resource()
    if method == "POST" and rest == ["queries"]:  # jobs.query
        result = fake.run_query(project, body, None, body.get("location") or "US")
        int64_timestamps = body.get("formatOptions", {}).get("useInt64Timestamp", False)
        return result.page(0, int(body.get("maxResults", fake.page_rows)), int64_timestamps)
    if method == "GET" and len(rest) == 2 and rest[0] == "queries":  # jobs.getQueryResults
        return fake.job(rest[1]).page(_page_start(query), page_rows, int64_timestamps)
    raise BigQueryError(404, "notFound", f"the fake does not implement {method} {path}")


def _handler(fake: FakeBigQuery) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            fake.requests.append((method, url.path))
            try:
                body = _parse_body(self.headers.get("Content-Type", ""), raw)
                status, payload = 200, _route(fake, method, url.path, query, body)
            except BigQueryError as err:
                status = err.status
                payload = {
                    "error": {
                        "code": err.status,
                        "message": str(err),
                        "errors": [{"reason": err.reason, "message": str(err)}],
                    }
                }
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler


def _parse_body(content_type: str, raw: bytes) -> dict:
    if not raw:
        return {}
    if "application/x-www-form-urlencoded" in content_type:  # the OAuth token request
        return {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
    return json.loads(raw)


def service_account_credentials(token_uri: str, project: str) -> str:
    """Base64 service-account key JSON (as ``BigQueryResource.gcp_credentials`` takes) with a fresh
    RSA key, whose signed-JWT token exchange goes to ``token_uri`` instead of Google."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "fake-key",
        "private_key": pem,
        "client_email": f"loader@{project}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    return base64.b64encode(json.dumps(info).encode()).decode()
