"""The bot in a process of its own, as an owner starts it: `python -m bot ...` run from this checkout (not
the venv's editable install), with none of the machine's keys, base URLs or tokens."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout under test


def free_port() -> int:
    """A port nothing listens on now, for a bot process to take."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_environment(**more: str) -> dict[str, str]:
    """This process's environment without keys, base URLs and tokens, importing the bot from ROOT."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL", "_TOKEN"))}
    return {**env, "PYTHONPATH": str(ROOT), **more}


@asynccontextmanager
async def bot_process(
    platform: str, cwd: Path, env: dict[str, str], *, never_logged: tuple[str, ...]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot PLATFORM` for the block's duration; then stopped, and its log checked: none of the
    `never_logged` secrets may appear in it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", platform, cwd=cwd, env=env, stderr=asyncio.subprocess.PIPE
    )
    failed: BaseException | None = None
    try:
        yield process
    except BaseException as exc:
        failed = exc
        raise
    finally:
        if process.returncode is None:  # a test may have stopped it already
            process.terminate()
        with contextlib.suppress(ProcessLookupError):
            _, err = await process.communicate()
            if failed is not None:  # what the process said is the first thing to read about a failure
                failed.add_note(f"`python -m bot {platform}` said:\n{err.decode(errors='replace')[-4000:]}")
            for secret in never_logged:
                assert secret.encode() not in err
