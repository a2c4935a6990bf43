"""Start-up to ready: from `python -m bot run` until the web chat answers, on a database that is
already migrated (the usual restart). Interpreter start and imports are counted: that is what a
restart costs a woman waiting for an answer."""
from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(folder: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _ready(url: str, proc: subprocess.Popen[bytes], limit: float) -> float | None:
    start = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        while time.perf_counter() - start < limit:
            if proc.poll() is not None:
                return None
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - start
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.01)
    return None


async def measure(tries: int = 3) -> dict[str, float | None]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/start.db",
               "DATA_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
               "DEMO_DATA": "off", "LOG_LEVEL": "WARNING", "HTTP_HOST": "127.0.0.1",
               "PYTHONPATH": str(REPO)}
        env = {k: v for k, v in env.items() if not k.startswith(("TELEGRAM_", "VIBER_",
                                                                 "REDIS_"))}
        await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "migrate"],
                                env=env, cwd=tmp, check=True, capture_output=True)
        times: list[float | None] = []
        for _ in range(tries):
            port = _free_port()
            proc = _spawn(tmp, {**env, "HTTP_PORT": str(port)})
            try:
                times.append(await _ready(f"http://127.0.0.1:{port}/webchat/", proc, 20.0))
            finally:
                proc.terminate()
                proc.wait(10)
    measured = [t for t in times if t is not None]
    return {"best_seconds": min(measured) if measured else None,
            "median_seconds": sorted(measured)[len(measured) // 2] if measured else None}
