"""Run every benchmark: `python -m bench` (or `make bench`)."""
from __future__ import annotations

import asyncio

from bench import telegram_throughput


def main() -> None:
    asyncio.run(telegram_throughput.main())


if __name__ == "__main__":
    main()
