"""The HTTP API of `kerasseq serve`: FastAPI over Predictor / Generator / Forecaster, with dynamic
micro-batching, Prometheus metrics and request limits. Never imports TensorFlow or Keras.

    GET  /v1/models                      loaded bundles: task, preset, labels, limits, versions
    POST /v1/models/{name}/predict       {"texts": [...], "explain": false} → {"predictions": [...]}
    POST /v1/models/{name}/generate      {"prime": ..., "max_chars": 300, ...} → {"text": ...}
    POST /v1/models/{name}/forecast      {"csv": "...", "every_day": false} → {"forecasts": [...]}
    GET  /healthz, /readyz, /metrics     liveness, readiness, Prometheus text format
"""

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from kerasseq import __version__, bundle
from kerasseq.serve.batching import MicroBatcher

ENDPOINTS = ("predict", "generate", "forecast")
DRAIN_BYTES = 64 * 2**20  # an oversized body is read and discarded up to this much before the 413 (then closed)
PARSE_ERROR = "There was an error parsing the body"  # FastAPI's 400 for a body json cannot decode
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class Limits:
    """Per-request limits; a request over one is answered 413 naming it."""

    max_body_bytes: int = 2_000_000
    max_texts: int = 256
    max_text_chars: int = 20_000
    max_generate_chars: int = 2_000


class RequestError(Exception):
    """A request the server refuses: HTTP `status` with a one-line `detail`."""

    def __init__(self, status, detail):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class ServedModel:
    name: str
    task: str
    engine: object  # Predictor, Generator or Forecaster
    info: dict
    batcher: Optional[MicroBatcher] = None


def load_models(bundle_dirs, threads=None):
    """{name: ServedModel} for bundle directories; a model's name is its directory name."""
    from kerasseq.serve import Forecaster, Generator, Predictor

    models = {}
    for path in bundle_dirs:
        name = Path(path).resolve().name
        if name in models:
            raise ValueError(f"two bundles are named {name!r}: serve bundles from directories with different names")
        task = bundle.read_task(path)
        engine = {"text-classification": Predictor, bundle.GENERATION_TASK: Generator,
                  bundle.FORECAST_TASK: Forecaster}[task](path, threads=threads)
        info = {"name": name, "task": task, "endpoint": f"/v1/models/{name}/{_endpoint(task)}"}
        if task == "text-classification":
            info.update(preset=engine.preprocessing.get("preset"), labels=engine.labels,
                        maxlen=engine.encoder.maxlen, explain=engine.has_attention)
        elif task == bundle.GENERATION_TASK:
            info.update(preset=engine.config.get("preset"), vocabulary_size=engine.tokenizer.vocab_size,
                        sampling=engine.sampling)
        else:
            info.update(preset=engine.config.get("preset"), series=engine.config["series"],
                        window=engine.config["window"], columns=engine.config["columns"])
        models[name] = ServedModel(name, task, engine, info)
    if not models:
        raise ValueError("give at least one bundle directory to serve")
    return models


def _endpoint(task):
    return {"text-classification": "predict", bundle.GENERATION_TASK: "generate", bundle.FORECAST_TASK: "forecast"}[task]


def create_app(bundle_dirs, max_batch=64, max_delay_ms=5.0, threads=None, limits=Limits()):
    """The FastAPI application serving `bundle_dirs` (see the module docstring)."""
    from fastapi import FastAPI
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import PlainTextResponse
    from starlette.exceptions import HTTPException
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
    from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr

    if not isinstance(max_delay_ms, (int, float)) or max_delay_ms < 0:
        raise ValueError(f"max_delay_ms must be >= 0, got {max_delay_ms!r}")
    models = load_models(bundle_dirs, threads)
    executor = ThreadPoolExecutor(max_workers=max(2, 2 * len(models)), thread_name_prefix="kerasseq-infer")
    registry = CollectorRegistry()
    requests = Counter("kerasseq_requests", "HTTP requests by endpoint, model and status", ["endpoint", "model", "status"],
                       registry=registry)
    latency = Histogram("kerasseq_request_seconds", "Request latency in seconds", ["endpoint"],
                        buckets=LATENCY_BUCKETS, registry=registry)
    batch_sizes = Histogram("kerasseq_batch_size", "Rows per onnxruntime call of the batched predict endpoint",
                            ["model"], buckets=BATCH_BUCKETS, registry=registry)
    queue_depth = Gauge("kerasseq_queue_depth", "Predict requests waiting to be batched", ["model"], registry=registry)
    state = {"ready": False}

    for model in models.values():
        if model.task == "text-classification":
            model.batcher = MicroBatcher(model.engine.predict, max_batch, max_delay_ms / 1000.0, executor,
                                         on_batch=batch_sizes.labels(model.name).observe)
            queue_depth.labels(model.name).set_function(lambda b=model.batcher: b.depth)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        for model in models.values():  # warm up: every model answers once before /readyz says so
            if model.batcher is not None:
                await model.batcher.submit(["warm up"])
        state["ready"] = True
        yield
        state["ready"] = False
        for model in models.values():
            if model.batcher is not None:
                await model.batcher.stop()
        executor.shutdown(wait=False, cancel_futures=True)

    JSONResponse = _json_response_class()
    app = FastAPI(title="kerasseq", version=__version__, lifespan=lifespan, default_response_class=JSONResponse,
                  description="Recurrent text classifiers, character generators and forecasters on onnxruntime.")
    app.state.models = [m.info for m in models.values()]

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        texts: list[StrictStr]
        explain: StrictBool = False
        top: StrictInt = 10

    class GenerateRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        prime: Optional[StrictStr] = None
        max_chars: StrictInt = 300
        temperature: Optional[StrictFloat | StrictInt] = None
        top_k: Optional[StrictInt] = None
        greedy: StrictBool = False
        stop_at: Optional[StrictStr] = None
        seed: Optional[StrictInt] = None

    class ForecastRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        csv: StrictStr
        every_day: StrictBool = False

    @app.exception_handler(RequestError)
    async def refuse(request, error):
        return JSONResponse({"detail": error.detail}, status_code=error.status)

    @app.exception_handler(HTTPException)
    async def http_error(request, error):
        if error.status_code == 400 and error.detail == PARSE_ERROR:  # invalid UTF-8, JSON nested too deeply
            return JSONResponse({"detail": "body: not parseable JSON (it must be UTF-8 text, nested at most a few "
                                           "hundred levels deep)"}, status_code=422)
        return await http_exception_handler(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, error):
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        if "json" not in request.headers.get("content-type", ""):
            problems.insert(0, "send the body as JSON with the header content-type: application/json")
        return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)

    def served(name, endpoint):
        if name not in models:
            raise RequestError(404, f"no model named {name!r}; loaded: {sorted(models)}")
        model = models[name]
        if _endpoint(model.task) != endpoint:
            raise RequestError(404, f"model {name!r} is a {model.task} model: use {model.info['endpoint']}")
        return model

    async def in_executor(fn, *args):
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        except (ValueError, TypeError) as e:  # the engines' own checks of the input
            raise RequestError(422, str(e).splitlines()[0]) from None

    @app.get("/v1/models")
    async def list_models():
        import onnxruntime

        return {"models": [dict(m.info, limits=limits.__dict__) for m in models.values()],
                "versions": {"kerasseq": __version__, "onnxruntime": onnxruntime.__version__},
                "batching": {"max_batch": max_batch, "max_delay_ms": max_delay_ms}}

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, body: PredictRequest):
        model = served(name, "predict")
        if len(body.texts) > limits.max_texts:
            raise RequestError(413, f"texts holds {len(body.texts)} items; the limit is {limits.max_texts} per request")
        for i, text in enumerate(body.texts):
            if len(text) > limits.max_text_chars:
                raise RequestError(413, f"texts[{i}] has {len(text)} characters; the limit is "
                                        f"{limits.max_text_chars} per text")
        if body.explain:
            if not model.engine.has_attention:
                raise RequestError(422, f"model {name!r} has no attention layer: explain is not available")
            results = await in_executor(model.engine.explain, body.texts, body.top)
            return {"predictions": [{"label": r["label"], "score": r["score"], "top_tokens": r["top"]}
                                    for r in results]}
        return {"predictions": await model.batcher.submit(body.texts)}

    @app.post("/v1/models/{name}/generate")
    async def generate(name: str, body: GenerateRequest):
        model = served(name, "generate")
        if body.max_chars > limits.max_generate_chars:
            raise RequestError(413, f"max_chars is {body.max_chars}; the limit is {limits.max_generate_chars}")
        if body.prime is not None and len(body.prime) > limits.max_text_chars:
            raise RequestError(413, f"prime has {len(body.prime)} characters; the limit is {limits.max_text_chars}")
        kwargs = body.model_dump()
        text = await in_executor(lambda: model.engine.generate(**kwargs))
        return {"prime": model.engine.prime_text(body.prime), "text": text}  # as the model read it

    @app.post("/v1/models/{name}/forecast")
    async def forecast(name: str, body: ForecastRequest):
        model = served(name, "forecast")
        csv_text = body.csv if "\n" in body.csv else body.csv + "\n"  # text, never a file name
        return {"forecasts": await in_executor(model.engine.forecast, csv_text, body.every_day)}

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        if not state["ready"]:
            return JSONResponse({"ready": False}, status_code=503)
        return {"ready": True, "models": sorted(models)}

    @app.get("/metrics")
    async def metrics():
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def observe(path, status, seconds):
        parts = path.strip("/").split("/")
        endpoint, model = path, ""
        if len(parts) == 4 and parts[:2] == ["v1", "models"] and parts[3] in ENDPOINTS:
            endpoint, model = parts[3], parts[2] if parts[2] in models else "(unknown)"
        elif path not in ("/v1/models", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
            endpoint = "(other)"
        requests.labels(endpoint, model, str(status)).inc()
        latency.labels(endpoint).observe(seconds)

    return RequestMetrics(BodyLimit(app, limits.max_body_bytes), observe)


class RequestMetrics:
    """ASGI middleware: `observe(path, status, seconds)` for every HTTP request (a plain ASGI
    wrapper: Starlette's BaseHTTPMiddleware costs a task and a stream per request)."""

    def __init__(self, app, observe):
        self.app = app
        self.observe = observe

    def __getattr__(self, name):
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status, gone = time.perf_counter(), [None], [False]

        async def tracking_receive():
            message = await receive()
            if message["type"] == "http.disconnect" and status[0] is None:
                gone[0] = True
            return message

        async def tracking_send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, tracking_receive, tracking_send)
        finally:
            # 499 (nginx's "client closed request"): the client left before an answer; never a server error
            code = CLIENT_CLOSED if gone[0] and status[0] is None else status[0] or 500
            self.observe(scope["path"], code, time.perf_counter() - started)


CLIENT_CLOSED = 499


def _json_response_class():
    """FastAPI's JSONResponse, rendering strings UTF-8 cannot encode (lone surrogates a client sent as
    `\\ud800`) as `\\uXXXX` escapes instead of failing."""
    from fastapi.responses import JSONResponse

    from kerasseq.serve.jsontext import dumps

    class SafeJSONResponse(JSONResponse):
        def render(self, content):  # FastAPI's own settings: compact, NaN refused
            return dumps(content, allow_nan=False, separators=(",", ":")).encode("utf-8")

    return SafeJSONResponse


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is answered 413, by its Content-Length
    or while it streams in, before the application sees it."""

    def __init__(self, app, limit):
        self.app = app
        self.limit = limit

    def __getattr__(self, name):  # the wrapped app's attributes (routes, state, ...)
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            if headers.get(b"expect", b"").lower() == b"100-continue":
                return await self._too_large(send, close=False)  # the client waits: it never sends the body
            return await self._drain_then_refuse(receive, send, int(length))
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await self._drain_then_refuse(receive, send, None, len(body), more)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)

    async def _drain_then_refuse(self, receive, send, length, read=0, more=True):
        """Read and discard the body (up to DRAIN_BYTES) before answering 413, as nginx's lingering close
        does: a client that sends its whole body before reading (urllib, requests) then reads the 413
        instead of a connection reset. A larger body is answered at once and the connection closed."""
        if length is not None and length > DRAIN_BYTES:
            return await self._too_large(send, close=True)
        while more and read <= DRAIN_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            read += len(message.get("body", b""))
            more = message.get("more_body", False)
        await self._too_large(send, close=more)

    async def _too_large(self, send, close):
        body = ('{"detail": "request body over the limit of %d bytes"}' % self.limit).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413,
                    "headers": headers + ([(b"connection", b"close")] if close else [])})
        await send({"type": "http.response.body", "body": body})
