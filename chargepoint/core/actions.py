"""Actions: commands the core returns and the shell executes, in order. Frozen, slotted.

Ordering contract: the shell executes actions in the order given, and a ``Persist`` / ``Forget`` is
durable on disk before any later ``SendText`` goes out (the "nothing is lost" rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class SendText:
    """Send one OCPP-J text frame to the CSMS."""

    text: str


@dataclass(frozen=True, slots=True)
class SetContactor:
    """Close or open the contactor of an EVSE."""

    evse: int
    closed: bool


@dataclass(frozen=True, slots=True)
class SetPilotCurrent:
    """Offer ``current_a`` to the EV through the pilot PWM; 0 means no PWM (the EV may not charge)."""

    evse: int
    current_a: float


@dataclass(frozen=True, slots=True)
class SetEvseEnabled:
    """Enable or disable the EVSE at the controller (disabled: pilot F, unavailable)."""

    evse: int
    enabled: bool


@dataclass(frozen=True, slots=True)
class SetLock:
    """Lock or unlock the connector cable of an EVSE; the shell answers with a ``LockResult``."""

    evse: int
    locked: bool


@dataclass(frozen=True, slots=True)
class Persist:
    """Write (insert or replace) one row: ``kind`` is the table, ``key`` orders rows within it. The value
    stays out of ``repr`` (it may be a key or an id token, and reprs end up in logs)."""

    kind: str
    key: str
    value: object = field(repr=False)


@dataclass(frozen=True, slots=True)
class Forget:
    """Delete one row (no error if it is not there)."""

    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class ConfigureConnection:
    """Settings the CSMS manages for the connection (OCPP 1.6 WebSocketPingInterval, AuthorizationKey):
    used from the next connection on. ``None`` leaves a value as it is; ``ping_interval_s`` 0 disables."""

    ping_interval_s: float | None = None
    password: str | None = field(default=None, repr=False)
    backoff: tuple[float, float, int] | None = None
    """OCPP 2.0.1 B10 reconnect back-off: (RetryBackOffWaitMinimum s, RetryBackOffRandomRange s,
    RetryBackOffRepeatTimes); ``None`` keeps the transport's own exponential back-off."""
    endpoint: tuple[str, int] | None = None
    """OCPP 2.0.1 B09/B10 network profile in use: (CSMS URL, security profile); ``("", 0)`` means the
    installer's own from the config file; ``None`` leaves it as it is."""


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Close the WebSocket and connect again (e.g. after a credentials change)."""

    reason: str


class RebootKind(StrEnum):
    SOFT = "Soft"
    HARD = "Hard"


@dataclass(frozen=True, slots=True)
class Reboot:
    """Restart the station process (systemd restarts it); ``HARD`` may also reboot the board."""

    kind: RebootKind


@dataclass(frozen=True, slots=True)
class Log:
    """A state change worth one log line (the shell adds station context). No secrets in ``message``."""

    level: int
    message: str


@dataclass(frozen=True, slots=True)
class SetSystemClock:
    """Set the board's clock to ``utc`` (only when the installer allowed it: station.set_system_clock)."""

    utc: datetime


@dataclass(frozen=True, slots=True)
class PkiCommand:
    """Ask the shell's certificate store (``chargepoint/service/pki.py``) to act; it answers with a
    ``PkiResult`` event with the same ``ref`` and ``op``. Operations and their ``args``:

    - ``csr`` {"use": "ChargePointCertificate"}: a new CSR → result {"csr": PEM}
    - ``accept_signed`` {"chain": PEM}: CertificateSigned → result {"expires": ISO time} or reason
    - ``install_root`` {"use": CertificateUse value, "pem": PEM} → result {"status": "Accepted"} or reason
    - ``delete`` {"hash": {hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber}} → {"status": ...}
    - ``list`` {"uses": [CertificateUse values] or []} → {"certificates": [{"use": ..., "hash": {...}}]}
    - ``status`` {}: → {"expires": ISO time or None} of the station's own certificate
    - ``verify_firmware_certificate`` {"pem": PEM} → ok or reason (checked before any download)

    Certificate use values are the 1.6 names (CentralSystemRootCertificate, ManufacturerRootCertificate,
    V2GRootCertificate, MORootCertificate, ChargePointCertificate); the 2.0.1 adapter maps its own."""

    ref: str
    op: str
    args: dict[str, object] = field(repr=False)


@dataclass(frozen=True, slots=True)
class StartJob:
    """A long file job for the shell; progress comes back as ``JobProgress`` events with the same ``job``.

    - ``firmware_download`` {"url", "retries", "retry_interval_s", "signing_certificate" (PEM or None),
      "signature" (base64 or None)}: statuses Downloading, Downloaded (or DownloadFailed), then, when
      signed, SignatureVerified (or InvalidSignature / InvalidCertificate)
    - ``firmware_install`` {}: statuses Installing, then InstallRebooting (the integrator's hook ran and
      asks for a restart) or Installed, or InstallationFailed
    - ``log_upload`` {"url", "kind" ("diagnostics" | "security"), "since", "until" (ISO or None),
      "retries", "retry_interval_s", "file_name"}: Uploading, then Uploaded or UploadFailed /
      PermissionDenied / BadMessage
    The ``args`` stay out of ``repr``: a URL may carry credentials."""

    job: str
    kind: str
    args: dict[str, object] = field(repr=False)


@dataclass(frozen=True, slots=True)
class CancelJob:
    """Stop a running job (a new UpdateFirmware replaces the old one; L01.FR.24)."""

    job: str


@dataclass(frozen=True, slots=True)
class RecordSecurityEvent:
    """Append one line to the local security log (1.6 security whitepaper §2.7, 2.0.1 A04.FR.04)."""

    kind: str
    info: str
    utc: datetime


Action = (
    SendText
    | SetContactor
    | SetPilotCurrent
    | SetEvseEnabled
    | SetLock
    | Persist
    | Forget
    | ConfigureConnection
    | Reconnect
    | Reboot
    | Log
    | SetSystemClock
    | PkiCommand
    | StartJob
    | CancelJob
    | RecordSecurityEvent
)
