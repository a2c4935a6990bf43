"""WE GO! bot, the composition root: app (one aiohttp server), runtime, scheduler, CLI, demo data."""
