"""Logging set-up and redaction: journal-friendly lines, and no secret ever in a log line.

Under systemd (``JOURNAL_STREAM`` set) each line carries the ``<N>`` syslog priority prefix the journal
understands; otherwise a plain timestamped format. ``redact`` shortens id tokens and hides keys and
passwords in OCPP frames before they are logged at DEBUG.
"""

from __future__ import annotations

import logging
import os
import re
import sys

_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}

# Fields whose values are id tokens (shortened) or secrets (hidden) in OCPP 1.6 and 2.0.1 payloads.
_TOKEN_FIELDS = r"idTag|parentIdTag|idToken|groupIdToken"  # noqa: S105 - field names, not a secret
_TOKEN_RE = re.compile(r'"(' + _TOKEN_FIELDS + r')"\s*:\s*"([^"]{0,4})[^"]*"')
_NESTED_TOKEN_RE = re.compile(r'"(idToken|groupIdToken)"\s*:\s*\{\s*"idToken"\s*:\s*"([^"]{0,4})[^"]*"')
_SECRET_RE = re.compile(
    r'("key"\s*:\s*"(?:AuthorizationKey|BasicAuthPassword)"\s*,\s*"value"\s*:\s*")[^"]*"'
    r'|("(?:password|privateKey|authorizationKey|basicAuthPassword)"\s*:\s*")[^"]*"'
)


def redact(text: str) -> str:
    """``text`` with id tokens cut to 4 characters and passwords / keys replaced by ``***``."""
    text = _SECRET_RE.sub(lambda m: (m.group(1) or m.group(2)) + '***"', text)
    text = _NESTED_TOKEN_RE.sub(lambda m: f'"{m.group(1)}":{{"idToken":"{m.group(2)}…"', text)
    return _TOKEN_RE.sub(lambda m: f'"{m.group(1)}":"{m.group(2)}…"', text)


class JournalFormatter(logging.Formatter):
    """``<N>logger: message``, the syslog priority prefix the journal parses."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = _PRIORITY.get(record.levelno, 6)
        return f"<{prefix}>{record.name}: {super().format(record)}"


def setup_logging(level: str = "INFO", *, stream: object = None) -> None:
    """Configure the root logger once for the process."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("websockets", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # pymodbus logs every garbled frame or timeout at ERROR with a frame dump. Our Modbus drivers count
    # those and raise a HAL error the station reports once, so pymodbus speaks only at DEBUG.
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.CRITICAL)
