"""`mentorkb serve` under load, for `mentorkb bench`: time from process start to the
first answer, resident memory, and many simultaneous clients over the JSON API
(`POST /api/ask`) and over the chat's path (Gradio's queue)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from rag.core.settings import Settings

API_TARGET_CLIENTS = 20  # the JSON API's targets are for this many simultaneous clients
API_RATIO_TARGET = 0.5  # its q/s over in-process q/s
API_P95_MS_TARGET = 200.0


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


# The runs against one server, in this order: (path, simultaneous clients) for each
# client count asked for. "api" is POST /api/ask; "chat" is the chat's Gradio endpoint
# through Gradio's queue, as the web page sends it.
PATHS = ("api", "chat")


def bench_serve(settings: Settings, questions: list[str], queries: int, clients: tuple[int, ...], log: Path,
                in_process_qps: float | None = None) -> dict:
    """Cold start, memory, then `queries` questions over the JSON API and over the chat
    from each number of simultaneous `clients`, against `mentorkb serve` in a subprocess.
    `in_process_qps` (one `Assistant.ask` after another, from the same run) is what each
    run's throughput is compared with."""
    import psutil

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    runs = [(path, n) for n in clients for path in PATHS]
    start = time.perf_counter()
    # Every client is its own visitor (a new cookie per run) and stays within the question
    # limit exactly: its share of a run's queries in a minute. All of the runs come from
    # one loopback address within a few minutes, so that address may send all of them.
    # A client refused for the rate counts as an error: the count shows the limiter
    # keeps clients apart and never refuses one that stays within its share.
    share = -(-queries // min(clients))
    total = queries * len(runs) + 2 * sum(n for _, n in runs) + 10
    limits = {"MENTORKB_RATE_LIMIT_PER_MINUTE": str(share),
              "MENTORKB_RATE_LIMIT_PER_ADDRESS_PER_MINUTE": str(total),
              "MENTORKB_REQUESTS_PER_ADDRESS_PER_MINUTE": str(3 * total + 100)}
    proc = _start_server(settings, port, log, limits)
    results = []
    try:
        first = _first_answer(proc, port, url, questions[0], log)
        cold_s = time.perf_counter() - start
        server = psutil.Process(proc.pid)
        rss_loaded = server.memory_info().rss / 2**20
        for path, n in runs:
            run = _api_clients if path == "api" else _chat_clients
            latencies, errors, wall = run(url, questions, queries, n)
            qps = len(latencies) / wall
            results.append({
                "path": path, "clients": n, "queries": queries, "errors": len(errors), "error_samples": errors[:3],
                "throughput_qps": round(qps, 2),
                "ratio_to_in_process": round(qps / in_process_qps, 3) if in_process_qps else None,
                "latency": percentiles(latencies) if latencies else {},
            })
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
        "in_process_qps": in_process_qps,
        "runs": results,
    }


def serve_targets(serve: dict) -> list[tuple[str, object, str, bool]]:
    """(name, measured, wanted, met) for the server's throughput targets (issue 32): the
    JSON API with 20 simultaneous clients at half the in-process rate or better, with
    p95 within 200 ms, and no errors on any run."""
    found = []
    for run in serve["runs"]:
        label = f"{run['clients']} simultaneous {run['path']} clients"
        found.append((f"errors with {label}", run["errors"], "0", run["errors"] == 0))
        if run["path"] == "api" and run["clients"] == API_TARGET_CLIENTS:
            ratio = run["ratio_to_in_process"]
            if ratio is not None:
                found.append((f"{label}: q/s / in-process q/s", ratio, f">= {API_RATIO_TARGET}",
                              ratio >= API_RATIO_TARGET))
            p95 = run["latency"].get("p95_ms")
            if p95 is not None:
                found.append((f"{label}: p95 (ms)", p95, f"<= {API_P95_MS_TARGET:g}", p95 <= API_P95_MS_TARGET))
    return found


def serve_table(serve: dict) -> list[str]:
    """The server's figures as Markdown lines: memory and start, then one row per run."""
    lines = ["| serve at chunks | cold start | RSS loaded / after queries / peak | in-process ask |",
             "| ---: | ---: | ---: | ---: |",
             f"| {serve['chunks']:,} | {serve['cold_start_s']} s | {serve['rss_mb_after_load']} / "
             f"{serve['rss_mb_after_queries']} / {serve['peak_rss_mb']} MB | {serve['in_process_qps']} q/s |",
             "", "| path | clients | queries | throughput | ratio to in-process | p50 / p95 | errors |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for run in serve["runs"]:
        lat = run["latency"] or {"p50_ms": "-", "p95_ms": "-"}
        lines.append(f"| {run['path']} | {run['clients']} | {run['queries']:,} | {run['throughput_qps']} q/s "
                     f"| {run['ratio_to_in_process']} | {lat['p50_ms']} / {lat['p95_ms']} ms | {run['errors']} |")
    return lines


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


def _ok(result) -> bool:
    """Any reply the assistant can give is a success; a handoff or refusal is a decision
    about the question, not a server error. A rate-limited reply is an error."""
    return (isinstance(result, dict) and result.get("route") in ("answer", "abstain", "handoff", "refuse")
            and result.get("category") != "rate_limited")


def _api_clients(url: str, questions: list[str], queries: int, clients: int) -> tuple[list[float], list[str], float]:
    """`clients` asyncio clients of POST /api/ask, each its own visitor with its own
    connection; all send at once, each its share of `queries`, one after another. One
    event loop drives them all, so the load generator takes little of the CPU the
    server needs. Returns the successful calls' latencies, the errors, and the wall time."""
    import asyncio

    import httpx

    errors: list[str] = []
    latencies: list[float] = []

    async def client(i: int, http: httpx.AsyncClient) -> None:
        for j in range(i, queries, clients):
            began = time.perf_counter()
            try:
                reply = await http.post("/api/ask", json={"question": questions[j % len(questions)]})
                result = reply.json() if reply.status_code == 200 else f"{reply.status_code}: {reply.text}"
            except Exception as e:  # noqa: BLE001 - any failure counts as an error
                result = f"{type(e).__name__}: {e}"
            if _ok(result):
                latencies.append(time.perf_counter() - began)
            else:
                errors.append(str(result)[:200])

    async def main() -> float:
        pool = [httpx.AsyncClient(base_url=url, timeout=120) for _ in range(clients)]
        try:
            await asyncio.gather(*(http.get("/") for http in pool))  # each gets its visitor cookie
            began = time.perf_counter()
            await asyncio.gather(*(client(i, http) for i, http in enumerate(pool)))
            return time.perf_counter() - began
        finally:
            await asyncio.gather(*(http.aclose() for http in pool))

    wall = asyncio.run(main())
    return latencies, errors, wall


def _chat_clients(url: str, questions: list[str], queries: int, clients: int) -> tuple[list[float], list[str], float]:
    """`clients` gradio_client clients (the chat's path: Gradio's queue) connect first,
    then all send at once, each its share of `queries`. Returns the successful calls'
    latencies, the errors, and the wall time."""
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
                ok = _ok(result)
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
