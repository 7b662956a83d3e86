"""prm.serving and `prm serve`: request parsing, batching, and real HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from prm.grading import GradeResult, Verdict
from prm.serving import Batcher, RequestError, ServeConfig, parse_body, parse_reward_request, parse_steps_request
from prm.steps import StepFormat

httpx = pytest.importorskip("httpx", reason="httpx is in the test extra")
pytest.importorskip("fastapi", reason="fastapi is in the serve and test extras")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is in the serve and test extras")

ROOT = Path(__file__).resolve().parents[1]
FORMAT = StepFormat()
SMALL = ServeConfig(max_items_per_request=4, max_chars_per_item=50, max_body_bytes=2_000, response_marker="<|assistant|>")


# ----------------------------------------------------------------------------- parsing
def test_reward_request_with_prompts_or_a_marker():
    body = {"query": ["Q1\n\nA.\n\nB.", "sys<|assistant|>x<|assistant|>C."], "prompts": ["Q1", "other"]}
    assert parse_reward_request(body, SMALL) == (["Q1", "sys<|assistant|>x"], ["\n\nA.\n\nB.", "C."])


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        ({}, 400, "field 'query' is required"),
        ({"query": "one string"}, 400, "'query' must be a list of strings"),
        ({"query": ["a", 3]}, 400, "'query' must be a list of strings"),
        ({"query": ["q"] * 5}, 413, "5 items; at most 4"),
        ({"query": ["x" * 51]}, 422, r"query\[0\] has 51 characters; at most 50"),
        ({"query": ["a", "b"], "prompts": ["a"]}, 400, "1 prompts for 2 queries"),
        ({"query": ["no marker here"]}, 400, r"query\[0\]: cannot tell the prompt from the response"),
    ],
)
def test_bad_reward_requests(body, status, match):
    with pytest.raises(RequestError, match=match) as caught:
        parse_reward_request(body, SMALL)
    assert caught.value.status == status


def test_no_marker_and_no_prompt_names_the_option():
    with pytest.raises(RequestError, match="--response-marker"):
        parse_reward_request({"query": ["q"]}, ServeConfig())


@pytest.mark.parametrize(
    ("raw", "status", "match"),
    [(b"{", 400, "not JSON"), (b"[1]", 400, "must be a JSON object, got list"), (b"\xff", 400, "not JSON"),
     (b" " * 2_001, 413, "over 2000 bytes")],
)
def test_bad_bodies(raw, status, match):
    with pytest.raises(RequestError, match=match) as caught:
        parse_body(raw, SMALL)
    assert caught.value.status == status


def test_steps_requests():
    assert parse_steps_request({"prompts": ["q"], "completions": ["a\n\n\n\nb "]}, SMALL, FORMAT) == (["q"], [["a", "b"]])
    assert parse_steps_request({"prompts": ["q"], "steps": [["a", "b"]]}, SMALL, FORMAT) == (["q"], [["a", "b"]])
    for body, match in [
        ({"prompts": ["q"]}, "exactly one of 'completions'"),
        ({"prompts": ["q"], "steps": [["a"]], "completions": ["a"]}, "exactly one of"),
        ({"prompts": ["q"], "steps": ["a"]}, "list of lists of strings"),
        ({"prompts": ["q", "r"], "steps": [["a"]]}, "2 prompts for 1 solutions"),
    ]:
        with pytest.raises(RequestError, match=match):
            parse_steps_request(body, SMALL, FORMAT)


def test_config_names_bad_fields():
    with pytest.raises(ValueError, match="ServeConfig.head is 'value'"):
        ServeConfig(head="value")
    with pytest.raises(ValueError, match="ServeConfig.max_batch_items must be an int >= 1, got 0"):
        ServeConfig(max_batch_items=0)


# ----------------------------------------------------------------------------- batching
class SlowScorer:
    """Step probability = 1 / (1 + len(step)); sleeps per call so that requests pile up."""

    step_format = FORMAT

    def __init__(self, seconds=0.05):
        self.seconds, self.batches, self.lock = seconds, [], threading.Lock()

    def score_steps(self, prompts, steps):
        if any(s == "boom" for solution in steps for s in solution):
            raise ValueError("this scorer refuses 'boom'")
        time.sleep(self.seconds)
        with self.lock:
            self.batches.append(len(prompts))
        return [[1.0 / (1 + len(s)) for s in solution] for solution in steps]

    def score_outcomes(self, prompts, steps):
        return [0.5] * len(prompts)


def test_batcher_merges_concurrent_requests_and_isolates_a_failure():
    scorer = SlowScorer()
    batcher = Batcher(scorer, max_batch_items=8, max_wait_ms=20)
    futures = [batcher.submit("steps", ["q"], [["a" * i]]) for i in range(1, 7)]
    assert [f.result(5) for f in futures] == [[[1.0 / (2 + i)]] for i in range(6)]
    assert sum(scorer.batches) == 6 and len(scorer.batches) < 6  # requests shared scorer calls
    scorer.batches.clear()
    mixed = [batcher.submit("steps", ["q"], [["a"]]), batcher.submit("steps", ["q"], [["boom"]]),
             batcher.submit("steps", ["q", "r"], [["aa"], ["a", "aaa"]])]
    assert mixed[0].result(5) == [[0.5]] and mixed[2].result(5) == [[1 / 3], [0.5, 0.25]]
    with pytest.raises(ValueError, match="refuses 'boom'"):
        mixed[1].result(5)
    assert batcher.submit("outcome", ["q", "r"], [["a"], ["b"]]).result(5) == [0.5, 0.5]
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit("steps", ["q"], [["a"]])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _served(app):
    """The app on a free 127.0.0.1 port in a thread; yields its URL, stops it on exit."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
    assert not thread.is_alive()


@pytest.mark.timeout(60)
def test_http_batches_concurrent_clients_in_process():
    from prm.serving import create_app

    scorer = SlowScorer(seconds=0.1)
    with _served(create_app(scorer, ServeConfig(max_wait_ms=20))) as url:
        def ask(i):
            body = {"query": [f"q{i}" + "\n\n" + "x" * i], "prompts": [f"q{i}"]}
            return httpx.post(url + "/get_reward", json=body, timeout=10).json()["rewards"]

        with ThreadPoolExecutor(8) as pool:
            rewards = list(pool.map(ask, range(1, 9)))
        assert rewards == [[pytest.approx(1.0 / (1 + i))] for i in range(1, 9)]
        assert len(scorer.batches) < 8 and sum(scorer.batches) == 8  # concurrent requests shared forwards
        bad = httpx.post(url + "/score_steps", json={"prompts": ["q"], "steps": [["boom"]]}, timeout=10)
        assert bad.status_code == 422 and "refuses 'boom'" in bad.json()["detail"]


class EndsWithGrader:
    def grade_solution(self, gold, text):
        return GradeResult(Verdict.CORRECT if text.endswith(gold) else Verdict.INCORRECT, "scripted")


@pytest.mark.timeout(60)
def test_a_verifiable_reward_from_the_labels():
    from prm.serving import create_app

    with pytest.raises(ValueError, match="needs a grader"):
        create_app(SlowScorer(0), ServeConfig(verifiable_weight=0.5))
    app = create_app(SlowScorer(0), ServeConfig(verifiable_weight=0.5), grader=EndsWithGrader())
    with _served(app) as url:
        body = {"query": ["q\n\nx 7", "q\n\nx 8", "q\n\nx 9"], "prompts": ["q"] * 3, "labels": ["7", "7", None]}
        answer = httpx.post(url + "/get_reward", json=body, timeout=10).json()
        assert answer["model_rewards"] == pytest.approx([1 / 4] * 3)
        assert answer["verifiable_rewards"] == [1.0, 0.0, 0.0]
        assert answer["rewards"] == pytest.approx([0.75, 0.25, 0.25])
        for labels, text in [(None, "field 'labels' is required"), (["7"], "1 labels for 3 queries"),
                             ([7, 7, 7], "field 'labels' is required")]:
            response = httpx.post(url + "/get_reward", json={**body, "labels": labels}, timeout=10)
            assert response.status_code == 400 and text in response.json()["detail"]


# ----------------------------------------------------------------------------- prm serve, real HTTP
@pytest.fixture(scope="module")
def reward_folder(tmp_path_factory):
    from prm.modeling import RewardConfig, RewardModel
    from prm.testing import tiny_causal_lm, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    model = RewardModel.from_causal_lm(tiny_causal_lm(tokenizer), tokenizer, RewardConfig(trained_heads=("step",)))
    with torch.no_grad():
        model.step_head.linear.weight.mul_(8)
    folder = tmp_path_factory.mktemp("serve") / "rm"
    model.save_pretrained(folder, tokenizer)
    return folder


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_prm_serve_over_http(reward_folder):
    from prm.scoring import PRMScorer

    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "prm.cli", "serve", "--prm", str(reward_folder), "--port", str(port),
               "--max-items", "8", "--max-chars", "2000", "--batch-size", "16"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "prm serve did not answer /health in 120 s"
            time.sleep(0.2)
        health = httpx.get(url + "/health").json()
        assert health["status"] == "ok" and health["aggregation"] == "min" and health["step_format"]["delimiter"] == "\n\n"
        assert health["scorer_calls"] == 0

        prompts = ["What is 3 + 4?", "What is 6 * 7?"]
        responses = ["3 + 4 = 7.\n\nThe answer is 7.", "6 * 7 = 42."]
        expected = [r.score for r in PRMScorer.from_pretrained(reward_folder).score(
            [(p, r.split("\n\n")) for p, r in zip(prompts, responses)], "min")]

        def ask(i):
            body = {"query": [p + "\n\n" + r for p, r in zip(prompts, responses)], "prompts": prompts}
            return httpx.post(url + "/get_reward", json=body, timeout=30).json()

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(16)))
        for answer in answers:
            assert answer["rewards"] == pytest.approx(expected, abs=1e-5) and answer["scores"] == answer["rewards"]
        steps = httpx.post(url + "/score_steps", json={"prompts": prompts, "completions": responses}, timeout=30).json()
        assert [len(s) for s in steps["step_scores"]] == [2, 1]
        assert steps["rewards"] == pytest.approx(expected, abs=1e-5)
        empty = httpx.post(url + "/get_reward", json={"query": ["q"], "prompts": ["q"]}, timeout=30).json()
        assert empty["rewards"] == [0.0]

        bad = [
            (httpx.post(url + "/get_reward", content=b"{not json", timeout=10), 400, "not JSON"),
            (httpx.post(url + "/get_reward", json={"queries": ["x"]}, timeout=10), 400, "field 'query' is required"),
            (httpx.post(url + "/get_reward", json={"query": ["q"] * 9}, timeout=10), 413, "at most 8"),
            (httpx.post(url + "/get_reward", json={"query": ["x" * 2001]}, timeout=10), 422, "at most 2000"),
            (httpx.post(url + "/get_reward", content=b" " * (9 * 1024 * 1024), timeout=30), 413, "request body over"),
            (httpx.post(url + "/get_reward", json={"query": ["no prompt"]}, timeout=10), 400, "--response-marker"),
            (httpx.post(url + "/score_steps", json={"prompts": ["q"]}, timeout=10), 400, "exactly one of"),
        ]
        for response, status, text in bad:
            assert response.status_code == status, (response.status_code, response.text)
            assert text in response.json()["detail"]
        assert httpx.get(url + "/nowhere", timeout=10).status_code == 404
        assert ask(0)["rewards"] == pytest.approx(expected, abs=1e-5)  # still serving after bad requests
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            raise
    output = process.stdout.read()
    assert code == 0, output
    assert "Application shutdown complete" in output or "Shutting down" in output, output
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/health", timeout=2)


def test_prm_serve_refuses_a_missing_folder(tmp_path, capsys):
    from prm.cli.main import main

    assert main(["serve", "--prm", str(tmp_path / "none"), "--port", "1"]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["serve", "--prm", str(tmp_path), str(tmp_path / "b"), "--ensemble", "mean_std"]) == 2
    assert f"--prm {tmp_path / 'b'}: no such folder" in capsys.readouterr().err


def test_prm_serve_refuses_an_untrained_head(reward_folder, capsys):
    from prm.cli.main import main

    assert main(["serve", "--prm", str(reward_folder), "--head", "outcome", "--port", "1"]) == 2
    assert "did not train its outcome head (trained: step)" in capsys.readouterr().err
