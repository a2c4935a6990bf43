"""WE GO! bot: the application (settings, app factory, HTTP server, channels, scheduler, CLI)."""
