"""`mentorkb serve` under load, for `mentorkb bench`: time from process start to the
first answer, resident memory, and many simultaneous clients through Gradio's API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from rag.core.settings import Settings


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds (nearest rank)."""
    ordered = sorted(samples_s)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))] * 1000

    return {"p50_ms": round(rank(0.50), 2), "p95_ms": round(rank(0.95), 2)}


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), Linux only."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def bench_serve(settings: Settings, questions: list[str], queries: int, clients: int, log: Path) -> dict:
    """Cold start, memory and concurrent clients against `mentorkb serve` in a subprocess."""
    import psutil

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    # Every client stays within the question limit, exactly: its share of the queries in
    # a minute, and the whole load from one loopback address. A client refused for the
    # rate counts as an error, so the count shows the limiter keeps clients apart.
    share = -(-queries // clients)
    limits = {"MENTORKB_RATE_LIMIT_PER_MINUTE": str(share),
              "MENTORKB_RATE_LIMIT_PER_ADDRESS_PER_MINUTE": str(queries + clients),
              "MENTORKB_REQUESTS_PER_ADDRESS_PER_MINUTE": str(2 * (queries + clients) + 100)}
    proc = _start_server(settings, port, log, limits)
    try:
        first = _first_answer(proc, port, url, questions[0], log)
        cold_s = time.perf_counter() - start
        server = psutil.Process(proc.pid)
        rss_loaded = server.memory_info().rss / 2**20
        latencies, errors, wall = _concurrent_clients(url, questions, queries, clients)
        rss_after = server.memory_info().rss / 2**20
        peak = _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {
        "cold_start_s": round(cold_s, 2),
        "first_answer_route": first,
        "rss_mb_after_load": round(rss_loaded, 1),
        "rss_mb_after_queries": round(rss_after, 1),
        "peak_rss_mb": peak,
        "clients": clients,
        "queries": queries,
        "errors": len(errors),
        "error_samples": errors[:3],
        "throughput_qps": round(len(latencies) / wall, 2),
        "latency": percentiles(latencies) if latencies else {},
    }


def _start_server(settings: Settings, port: int, log: Path, extra: dict[str, str] | None = None) -> subprocess.Popen:
    """`mentorkb serve` on `settings`' data dir and store, offline, logging to `log`."""
    env = {**(extra or {}),
        **os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
        "MENTORKB_COLLECTION": settings.collection, "MENTORKB_MODELS_DIR": str(settings.models_path),
    }
    if settings.chroma_url:
        env["MENTORKB_CHROMA_URL"] = settings.chroma_url
    command = [sys.executable, "-m", "mentorkb", "--data-dir", str(settings.data_dir), "serve", "--port", str(port)]
    with log.open("w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def _concurrent_clients(url: str, questions: list[str], queries: int, clients: int
                        ) -> tuple[list[float], list[str], float]:
    """`clients` gradio_client clients connect first, then all send at once, each its
    share of `queries`. Returns the successful calls' latencies, the errors, and the wall time."""
    import httpx
    from gradio_client import Client

    pool = [None] * clients
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    go = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        # Each client is its own visitor, as a browser is: the page load gives it the cookie.
        cookie = httpx.get(url, timeout=60).cookies.get("mentorkb_session")
        pool[i] = Client(url, verbose=False, analytics_enabled=False, download_files=False,
                         headers={"Cookie": f"mentorkb_session={cookie}"})
        go.wait()
        for j in range(i, queries, clients):
            began = time.perf_counter()
            try:
                result = pool[i].predict(questions[j % len(questions)], api_name="/ask")
                # Any reply the assistant can give is a success; a handoff or refusal is
                # a decision about the question, not a server error.
                ok = (result.get("route") in ("answer", "abstain", "handoff", "refuse")
                      and result.get("category") != "rate_limited")
            except Exception as e:  # noqa: BLE001 - any failure counts as an error
                ok, result = False, f"{type(e).__name__}: {e}"
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - began)
                else:
                    errors.append(str(result)[:200])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    go.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    for c in pool:
        if c is not None:
            c.close()
    return latencies, errors, wall


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Return once `proc` listens on the loopback `port`; raise, with its log's tail, if it
    exits first or does not listen within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mentorkb serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"mentorkb serve did not listen on {port} within {timeout:g}s")


def _first_answer(proc: subprocess.Popen, port: int, url: str, question: str, log: Path, timeout: float = 300) -> str:
    """Wait for the server to listen, then for its first answer; returns that answer's route."""
    from gradio_client import Client

    wait_for_port(port, proc, log, timeout)
    client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    try:
        return client.predict(question, api_name="/ask")["route"]
    finally:
        client.close()
