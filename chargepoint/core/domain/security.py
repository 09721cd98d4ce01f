"""Version-neutral security events and certificate renewal (to be completed, issue 7)."""

from __future__ import annotations
