"""What the benchmark scripts share: waiting for a server they started to answer."""

from __future__ import annotations

import time

import httpx


def wait_until_up(url: str, path: str = "/health") -> None:
    """Return once ``url + path`` answers anything; fail after about 20 seconds."""
    for _ in range(100):
        try:
            httpx.get(f"{url}{path}", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"no server answered at {url}")
