"""Logging set-up and redaction: journal-friendly lines, a rotating log file, no secret ever in a log line.

Under systemd (``JOURNAL_STREAM`` set) each line carries the ``<N>`` syslog priority prefix the journal
understands; otherwise a plain timestamped format. ``add_file_log`` also writes every line to
``<state>/logs/chargepoint.log`` (rotated, a few files of a few MB), each line opening with an ISO 8601 UTC
timestamp so a diagnostics upload (OCPP 1.6 GetDiagnostics, 2.0.1 GetLog) can cut out a period
(``logbundle.py``). ``redact`` shortens id tokens and hides keys, passwords and URL credentials in OCPP
frames before they are logged at DEBUG.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import time
from pathlib import Path

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

# user:password@ in a URL: the locations of UpdateFirmware, GetDiagnostics and GetLog may carry an FTP or
# HTTP password (1.6 §5.9 / §5.19, 2.0.1 L01 / N01).
_URL_USERINFO_RE = re.compile(r'([A-Za-z][A-Za-z0-9+.-]*://)[^/?#"\s]*@')


def hide_url_credentials(text: str) -> str:
    """``text`` with every ``user:password@`` of a URL in it replaced by ``***@``."""
    return _URL_USERINFO_RE.sub(r"\1***@", text)


def redact(text: str) -> str:
    """``text`` with id tokens cut to 4 characters, passwords / keys replaced by ``***`` and URL credentials
    by ``***@``."""
    text = _SECRET_RE.sub(lambda m: (m.group(1) or m.group(2)) + '***"', text)
    text = hide_url_credentials(text)
    text = _NESTED_TOKEN_RE.sub(lambda m: f'"{m.group(1)}":{{"idToken":"{m.group(2)}…"', text)
    return _TOKEN_RE.sub(lambda m: f'"{m.group(1)}":"{m.group(2)}…"', text)


class JournalFormatter(logging.Formatter):
    """``<N>logger: message``, the syslog priority prefix the journal parses."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = _PRIORITY.get(record.levelno, 6)
        return f"<{prefix}>{record.name}: {super().format(record)}"


LOG_FILE = "chargepoint.log"
LOG_FILE_BYTES = 2 * 1024 * 1024
LOG_FILE_BACKUPS = 3


class FileFormatter(logging.Formatter):
    """``2024-05-01T12:00:00.123Z INFO    name: message``: UTC, ISO 8601, what logbundle filters on."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


def add_file_log(directory: Path, *, max_bytes: int = LOG_FILE_BYTES,
                 backups: int = LOG_FILE_BACKUPS) -> logging.Handler:
    """Also log to ``directory/chargepoint.log``, rotated at ``max_bytes`` keeping ``backups`` old files
    (``.1`` the newest). Returns the handler for ``remove_file_log``. Raises OSError if the folder cannot
    be made."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o750)
    handler = logging.handlers.RotatingFileHandler(directory / LOG_FILE, maxBytes=max_bytes,
                                                   backupCount=backups, encoding="utf-8")
    handler.setFormatter(FileFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return handler


def remove_file_log(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()


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
