"""`mentorkb serve --workers N`: N worker processes on one port, kept running.

Each worker is a whole `mentorkb serve` (its own embedding model, its own view of the
live index generation, which it only reads) listening on the public port with
SO_REUSEPORT, so the kernel spreads connections among them, and on a private
loopback port through which its siblings forward a Gradio page's requests to it
(`ui.sticky`). This process only starts them, restarts one that dies, and stops
them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

RESTARTS_PER_MINUTE = 5  # past this, a worker that keeps dying stops the server


def public_socket(host: str, port: int) -> socket.socket:
    """The shared listening socket: every worker binds it with SO_REUSEPORT."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


def private_socket(port: int) -> socket.socket:
    """A worker's own loopback socket, for requests its siblings forward."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports nobody listens on now."""
    held = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def supervise(data_dir: Path, host: str, port: int, workers: int, echo: Callable[[str], None]) -> int:
    """Run `workers` workers until told to stop; returns the exit status."""
    # Bound here first, so a port already in use fails at once, before any worker loads.
    probe = public_socket(host, port)
    peers = free_ports(workers)
    command = [sys.executable, "-m", "mentorkb", "--data-dir", str(data_dir), "serve", "--host", host,
               "--port", str(port), "--peers", ",".join(map(str, peers))]
    procs: dict[int, subprocess.Popen] = {}
    deaths: list[float] = []
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for i in range(workers):
            procs[i] = subprocess.Popen([*command, "--worker-index", str(i)])
        probe.close()
        while not stopping:
            time.sleep(0.2)
            for i, proc in procs.items():
                if stopping or proc.poll() is None:
                    continue
                now = time.monotonic()
                deaths[:] = [t for t in deaths if now - t < 60] + [now]
                if len(deaths) > RESTARTS_PER_MINUTE:
                    echo(f"worker {i} exited with {proc.returncode}; workers keep dying, stopping")
                    return 1
                echo(f"worker {i} exited with {proc.returncode}; starting it again")
                procs[i] = subprocess.Popen([*command, "--worker-index", str(i)])
        return 0
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for s, handler in previous.items():
            signal.signal(s, handler)
