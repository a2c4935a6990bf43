"""(being built: see the issue that owns this journey)."""
from __future__ import annotations

from handlers.base import Route

ROUTES: list[Route] = []
