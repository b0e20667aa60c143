"""`mtp-edge serve` as a real uvicorn process on 127.0.0.1, driven by the official openai client."""

from __future__ import annotations

import http.client
import json
import subprocess
import threading

import openai
import pytest

from product_util import THREADS, free_port, mtp_edge_cmd, mtp_smollm2, cli_env, wait_for

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
# A base-model completion that keeps counting: long enough to still be running when the test acts on it.
LONG_PROMPT = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"


class Server:
    def __init__(self, proc: subprocess.Popen, port: int, log) -> None:
        self.proc, self.port, self.url, self.log = proc, port, f"http://127.0.0.1:{port}", log

    def client(self) -> openai.OpenAI:
        # No retries: a 503 must reach the test, not be retried away.
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key="none", max_retries=0, timeout=120)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={"content-type": "application/json"})
            r = conn.getresponse()
            return r.status, json.loads(r.read())
        finally:
            conn.close()

    def health(self) -> dict:
        return self.request("GET", "/health")[1]

    def log_text(self) -> str:
        self.log.flush()
        return open(self.log.name, encoding="utf-8", errors="replace").read()

    def start_long_stream(self) -> http.client.HTTPConnection:
        """A streamed completion that will run for hundreds of tokens; returns once it is producing."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.request("POST", "/v1/completions", headers={"content-type": "application/json"}, body=json.dumps(
            {"prompt": LONG_PROMPT, "max_tokens": 900, "stream": True, "mtp_k_max": 1}))
        response = conn.getresponse()
        assert response.status == 200
        while not response.readline().startswith(b"data:"):
            pass  # the first chunk arrived: the model is busy with this request
        return conn


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = mtp_smollm2(tmp_path_factory.getbasetemp())
    port = free_port()
    log = open(tmp_path_factory.mktemp("serve") / "serve.log", "w+")
    proc = subprocess.Popen(
        mtp_edge_cmd("serve", "-m", str(path), "--port", str(port), "--threads", THREADS, "--ctx", "1024",
                     "--max-queue", "1", "--k-max", "3", "--name", "smol-mtp"),
        stdout=log, stderr=subprocess.STDOUT, env=cli_env())
    srv = Server(proc, port, log)
    try:
        wait_for(lambda: _up(srv), 120, "the server to answer /health", proc)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _up(srv: Server) -> bool:
    try:
        return srv.health()["status"] == "ok"
    except OSError:
        return False


def test_chat_completion_reports_mtp_usage_and_lossless_matches_plain(server):
    client = server.client()
    assert [m.id for m in client.models.list().data] == ["smol-mtp"]
    plain = client.chat.completions.create(model="smol-mtp", messages=QUESTION, max_tokens=6,
                                           extra_body={"mtp_k_max": 1})
    mtp = client.chat.completions.create(model="smol-mtp", messages=QUESTION, max_tokens=6,
                                         extra_body={"mtp_k_max": 3, "mtp_mode": "lossless"})
    text = plain.choices[0].message.content
    assert text and plain.choices[0].message.role == "assistant"
    assert mtp.choices[0].message.content == text  # lossless MTP is exactly plain greedy decoding
    usage = mtp.usage.model_dump()
    assert 0 < usage["completion_tokens"] <= 6 and usage["prompt_tokens"] > 5
    assert usage["mtp_passes"] >= 1 and usage["mtp_eff_k"] > 0
    assert plain.usage.model_dump()["mtp_eff_k"] <= 1.0  # k_max = 1: never more than one token per pass


def test_streamed_chat_completion_matches_the_whole_answer(server):
    client = server.client()
    whole = client.chat.completions.create(model="smol-mtp", messages=QUESTION, max_tokens=6,
                                           extra_body={"mtp_k_max": 3, "mtp_tau": 0.5})
    chunks = list(client.chat.completions.create(model="smol-mtp", messages=QUESTION, max_tokens=6, stream=True,
                                                 extra_body={"mtp_k_max": 3, "mtp_tau": 0.5}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].usage.model_dump()["mtp_passes"] >= 1


def test_text_completion_streams(server):
    pieces = list(server.client().completions.create(model="smol-mtp", prompt=LONG_PROMPT, max_tokens=4,
                                                     stream=True))
    assert "".join(p.choices[0].text for p in pieces).strip()


@pytest.mark.parametrize("extra, error, words", [
    ({"mtp_k_max": 0}, openai.UnprocessableEntityError, "mtp_k_max"),
    ({"mtp_tau": 1.5}, openai.UnprocessableEntityError, "mtp_tau"),
    ({"mtp_mode": "fast"}, openai.UnprocessableEntityError, "mtp_mode"),
    ({"mtp_k_max": 5000}, openai.BadRequestError, "does not fit the context"),
    ({"mtp_k_max": 5000, "stream": True}, openai.BadRequestError, "does not fit the context"),
])
def test_bad_requests_get_json_errors(server, extra, error, words):
    stream = extra.pop("stream", False)
    with pytest.raises(error) as info:
        server.client().chat.completions.create(model="smol-mtp", messages=QUESTION, max_tokens=4, stream=stream,
                                                extra_body=extra)
    assert words in info.value.body["message"]


def test_malformed_bodies_get_422(server):
    for body in ({"messages": []}, {"messages": [{"role": "wizard", "content": "hi"}]}, {"prompt": ""}):
        path = f"/v1/{'completions' if 'prompt' in body else 'chat/completions'}"
        status, answer = server.request("POST", path, json.dumps(body).encode())
        assert status == 422 and answer["error"]["type"] == "invalid_request_error"
    status, answer = server.request("POST", "/v1/chat/completions", b"{not json")
    assert status == 422 and "JSON" in answer["error"]["message"]


def test_disconnect_mid_stream_frees_the_model(server):
    stopped = server.log_text().count("client disconnected")
    server.start_long_stream().close()
    # The worker logs when it stops a generation for a gone client; one that ran to the end would not.
    wait_for(lambda: server.log_text().count("client disconnected") > stopped, 120,
             "the server to stop the abandoned stream")
    wait_for(lambda: server.health()["running"] == 0, 60, "the model to be free")
    answer = server.client().chat.completions.create(model="smol-mtp", messages=QUESTION, max_tokens=4)
    assert answer.choices[0].message.content


def test_full_queue_answers_503_then_recovers(server):
    running = server.start_long_stream()
    queued: dict = {}
    waiter = threading.Thread(target=lambda: queued.setdefault("r", server.client().completions.create(
        model="smol-mtp", prompt="Hello", max_tokens=2)))
    waiter.start()
    try:
        wait_for(lambda: server.health()["queued"] == 1, 60, "the second request to be queued")
        with pytest.raises(openai.InternalServerError) as info:
            server.client().chat.completions.create(model="smol-mtp", messages=QUESTION, max_tokens=2)
        assert info.value.status_code == 503 and "busy" in info.value.body["message"]
    finally:
        running.close()
        waiter.join(120)
    assert queued["r"].choices[0].text is not None  # the queued request ran once the stream let go
    assert server.proc.poll() is None
