"""`kerasseq serve`: a real server on an ephemeral port, called over HTTP from threads."""

import asyncio
import http.client
import json
import socket
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from kerasseq.serve.batching import MicroBatcher
from tests.conftest import ARTIFACT, ROOT
from tests.test_serve import BLOCK_TF

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

SALES = ROOT / "tests" / "data" / "sales_20_products.csv"
BUNDLES = [ARTIFACT, ROOT / "artifacts" / "alice-char-lstm", ROOT / "artifacts" / "sales-simplernn",
           ROOT / "artifacts" / "imdb-attention"]
HEADER_TIMEOUT, BODY_TIMEOUT = 2, 3


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, body=None, raw=None, headers=None):
    """(status, parsed JSON or text) of one request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    connection.request(method, path, body=data, headers={"content-type": "application/json", **(headers or {})})
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    try:
        return response.status, json.loads(text)
    except json.JSONDecodeError:
        return response.status, text


@pytest.fixture(scope="module")
def server():
    """The server, started with TensorFlow and Keras unimportable, batching up to 32 rows for 20 ms."""
    for path in BUNDLES:
        if not path.is_dir():
            pytest.skip(f"{path} not built")
    port = _free_port()
    code = BLOCK_TF + textwrap.dedent(f"""
        import sys
        from kerasseq.cli import main
        sys.exit(main(["serve", *{[str(b) for b in BUNDLES]!r}, "--port", "{port}", "--max-batch", "32",
                       "--max-delay-ms", "20", "--max-texts", "40", "--max-text-chars", "5000",
                       "--max-body-bytes", "300000", "--header-timeout", "{HEADER_TIMEOUT}",
                       "--body-timeout", "{BODY_TIMEOUT}"]))
    """)
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited: {process.stderr.read()}")
        try:
            if call(port, "GET", "/readyz")[0] == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("server not ready in 90 s")
    yield port
    process.terminate()
    process.wait(timeout=20)


def _metric(port, name, labels):
    _, text = call(port, "GET", "/metrics")
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_models_health_and_openapi(server):
    status, body = call(server, "GET", "/v1/models")
    assert status == 200 and [m["name"] for m in body["models"]] == ["uci-lstm", "alice-char-lstm", "sales-simplernn",
                                                                 "imdb-attention"]
    assert body["models"][0]["labels"] == ["negative", "positive"] and body["models"][0]["limits"]["max_texts"] == 40
    assert call(server, "GET", "/healthz") == (200, {"status": "ok"})
    assert call(server, "GET", "/readyz")[1]["ready"] is True
    status, schema = call(server, "GET", "/openapi.json")
    assert status == 200 and "/v1/models/{name}/predict" in schema["paths"]


def test_concurrent_requests_are_batched_and_match_the_predictor(server, uci):
    from kerasseq.serve import Predictor

    texts = uci.texts[:64]
    batches_before = _metric(server, "kerasseq_batch_size_count", {"model": "uci-lstm"})
    ok_before = _metric(server, "kerasseq_requests_total", {"endpoint": "predict", "model": "uci-lstm",
                                                            "status": "200"})
    with ThreadPoolExecutor(32) as pool:  # 64 requests of one text each, 32 at a time
        answers = list(pool.map(lambda t: call(server, "POST", "/v1/models/uci-lstm/predict", {"texts": [t]}), texts))
    assert all(status == 200 for status, _ in answers)
    want = Predictor(ARTIFACT).predict(texts)
    got = [body["predictions"][0] for _, body in answers]
    assert [g["label"] for g in got] == [w["label"] for w in want]
    assert np.abs(np.array([g["score"] for g in got]) - [w["score"] for w in want]).max() <= 1e-6
    batches = _metric(server, "kerasseq_batch_size_count", {"model": "uci-lstm"}) - batches_before
    assert 1 <= batches < 64  # requests were merged into fewer onnxruntime calls
    assert _metric(server, "kerasseq_requests_total", {"endpoint": "predict", "model": "uci-lstm",
                                                       "status": "200"}) - ok_before == 64
    status, body = call(server, "POST", "/v1/models/uci-lstm/predict", {"texts": texts[:5]})
    assert status == 200 and [p["label"] for p in body["predictions"]] == [w["label"] for w in want[:5]]


@pytest.mark.parametrize("path, body, raw, status, message", [
    ("/v1/models/nope/predict", {"texts": ["a"]}, None, 404, "no model named 'nope'"),
    ("/v1/models/alice-char-lstm/predict", {"texts": ["a"]}, None, 404, "use /v1/models/alice-char-lstm/generate"),
    ("/v1/models/uci-lstm/predict", {"texts": "not a list"}, None, 422, "body.texts"),
    ("/v1/models/uci-lstm/predict", {"texts": [1, 2]}, None, 422, "body.texts.0"),
    ("/v1/models/uci-lstm/predict", {"text": ["a"]}, None, 422, "body.texts: Field required"),
    ("/v1/models/uci-lstm/predict", None, b"{not json", 422, "JSON decode error"),
    ("/v1/models/uci-lstm/predict", {"texts": ["a"] * 41}, None, 413, "the limit is 40 per request"),
    ("/v1/models/uci-lstm/predict", {"texts": ["a" * 5001]}, None, 413, "the limit is 5000 per text"),
    ("/v1/models/uci-lstm/predict", None, b'{"texts": ["' + b"a" * 300001 + b'"]}', 413, "limit of 300000 bytes"),
    ("/v1/models/uci-lstm/predict", {"texts": ["a"], "explain": True}, None, 422, "no attention layer"),
    ("/v1/models/alice-char-lstm/generate", {"max_chars": 0}, None, 422, "max_chars must be a positive int"),
    ("/v1/models/alice-char-lstm/generate", {"max_chars": 5000}, None, 413, "the limit is 2000"),
    ("/v1/models/alice-char-lstm/generate", {"prime": "☃"}, None, 422, "not in the 70-character vocabulary"),
    ("/v1/models/sales-simplernn/forecast", {"csv": "/etc/passwd"}, None, 422, "expected a header row"),
    ("/v1/models/sales-simplernn/forecast", {"csv": "Product_Code,W0\nP1,x\n"}, None, 422, "column 'W0'"),
])
def test_bad_requests_get_a_clear_4xx(server, path, body, raw, status, message):
    got_status, got = call(server, "POST", path, body, raw)
    assert got_status == status and message in got["detail"], got


def test_empty_list_generation_and_forecast(server):
    assert call(server, "POST", "/v1/models/uci-lstm/predict", {"texts": []}) == (200, {"predictions": []})
    status, body = call(server, "POST", "/v1/models/alice-char-lstm/generate",
                        {"prime": "Alice ", "max_chars": 40, "seed": 3})
    assert status == 200 and body["prime"] == "Alice " and len(body["text"]) == 40
    assert call(server, "POST", "/v1/models/alice-char-lstm/generate",
                {"prime": "Alice ", "max_chars": 40, "seed": 3})[1] == body  # seeded: the same text
    status, body = call(server, "POST", "/v1/models/sales-simplernn/forecast", {"csv": SALES.read_text()})
    assert status == 200 and len(body["forecasts"]) == 20 and body["forecasts"][0]["week"] == "W52"


def test_bad_bursts_and_disconnects_leave_the_server_healthy(server):
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: call(server, "POST", "/v1/models/uci-lstm/predict", None,
                                                b"{broken" * (i + 1))[0], range(64)))
    assert set(statuses) == {422}
    for _ in range(5):  # clients that announce a body and hang up half-way
        with socket.create_connection(("127.0.0.1", server)) as s:
            s.sendall(b"POST /v1/models/uci-lstm/predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                      b"content-length: 1000\r\n\r\n{\"texts\": [\"hal")
    with socket.create_connection(("127.0.0.1", server)) as s:  # and one that leaves before its answer
        s.sendall(b"POST /v1/models/uci-lstm/predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                  b"content-length: 19\r\n\r\n{\"texts\": [\"bye\"]}")
    assert call(server, "GET", "/healthz")[0] == 200
    assert call(server, "POST", "/v1/models/uci-lstm/predict", {"texts": ["still fine"]})[0] == 200
    assert _metric(server, "kerasseq_requests_total", {"endpoint": "predict", "model": "uci-lstm",
                                                       "status": "422"}) >= 64


def test_micro_batcher_merges_within_the_delay_and_not_with_max_batch_1():
    calls = []

    def run(rows):
        calls.append(len(rows))
        return [r * 10 for r in rows]

    async def go(max_batch):
        batcher = MicroBatcher(run, max_batch=max_batch, max_delay=0.05)
        results = await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(6)))
        await batcher.stop()
        return results

    results = asyncio.run(go(8))
    assert results[2] == [20, 1020] and sum(calls) == 12 and max(calls) <= 8 and len(calls) < 6
    calls.clear()
    assert asyncio.run(go(1)) == results and calls == [2] * 6  # each request alone (2 rows > 1: whole)
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(run, max_batch=0)


# Issue #15: what a hostile or careless client sends never gets a 500, a reset or a held connection.

def test_lone_surrogates_get_answers_not_500(server):
    body = b'{"texts": ["bad \\ud800 movie", "fine"], "explain": true, "top": 3}'
    status, answer = call(server, "POST", "/v1/models/imdb-attention/predict", raw=body)
    assert status == 200 and "\ud800" in [t for t, _ in answer["predictions"][0]["top_tokens"]]
    status, answer = call(server, "POST", "/v1/models/uci-lstm/predict", raw=b'{"texts": ["\\udc00"]}')
    assert status == 200 and len(answer["predictions"]) == 1
    status, answer = call(server, "POST", "/v1/models/uci-lstm/predict", raw=b'{"texts": [], "\\ud800": 1}')
    assert status == 422 and answer["detail"].startswith("body")  # a key UTF-8 cannot hold: refused, named
    assert _metric(server, "kerasseq_requests_total", {"endpoint": "predict", "status": "500"}) == 0


@pytest.mark.parametrize("size", [3_000_000, 50_000_000])
def test_oversized_bodies_from_plain_clients_read_the_413(server, size):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{server}/v1/models/uci-lstm/predict", data=b"x" * size,
                                     headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=60)
    assert error.value.code == 413 and "limit of 300000 bytes" in error.value.read().decode()


def test_expect_100_continue_gets_the_413_before_sending(server):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as s:
        s.sendall(b"POST /v1/models/uci-lstm/predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                  b"content-length: 5000000\r\nexpect: 100-continue\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize("raw", [b"[" * 100_000 + b"]" * 100_000, b'{"texts": ["caf\xe9"]}'],
                         ids=["nested 100,000 deep", "invalid UTF-8"])
def test_unparseable_bodies_are_422_naming_the_body(server, raw):
    status, answer = call(server, "POST", "/v1/models/uci-lstm/predict", raw=raw)
    assert status == 422 and answer["detail"].startswith("body:")


def test_a_csv_text_with_a_bom_forecasts_like_the_file(server):
    plain = call(server, "POST", "/v1/models/sales-simplernn/forecast", {"csv": SALES.read_text()})
    assert call(server, "POST", "/v1/models/sales-simplernn/forecast", {"csv": "\ufeff" + SALES.read_text()}) == plain


def test_clients_that_hang_up_count_as_499_not_500(server):
    before = _metric(server, "kerasseq_requests_total", {"endpoint": "predict", "model": "uci-lstm", "status": "499"})
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server)) as s:
            s.sendall(b"POST /v1/models/uci-lstm/predict HTTP/1.1\r\nHost: x\r\ncontent-type: application/json"
                      b"\r\ncontent-length: 1000\r\n\r\n{\"texts\": [\"hal")
    deadline = time.monotonic() + 10
    while _metric(server, "kerasseq_requests_total", {"endpoint": "predict", "model": "uci-lstm",
                                                      "status": "499"}) < before + 3:
        assert time.monotonic() < deadline, "hang-ups not counted as 499"
        time.sleep(0.1)
    assert _metric(server, "kerasseq_requests_total", {"endpoint": "predict", "status": "500"}) == 0


@pytest.mark.parametrize("sent, timeout", [
    (b"", HEADER_TIMEOUT),  # connects and says nothing
    (b"POST /v1/models/uci-lstm/predict HTTP/1.1\r\nHo", HEADER_TIMEOUT),  # headers, then a stall
    (b"POST /v1/models/uci-lstm/predict HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\n{", BODY_TIMEOUT),
], ids=["silent", "slow headers", "slow body"])
def test_slow_clients_are_disconnected_after_the_timeouts(server, sent, timeout):
    with socket.create_connection(("127.0.0.1", server), timeout=timeout + 10) as s:
        started = time.monotonic()
        s.sendall(sent)
        while True:  # a byte a second, as a slowloris client does; the server ends it
            try:
                if s.recv(100, socket.MSG_DONTWAIT) == b"":
                    break
            except BlockingIOError:
                pass
            except ConnectionResetError:
                break
            assert time.monotonic() - started < timeout + 8, "connection still open"
            try:
                s.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(1)
    assert time.monotonic() - started >= timeout - 0.5
    assert call(server, "GET", "/healthz")[0] == 200
