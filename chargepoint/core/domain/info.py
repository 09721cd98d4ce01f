"""What the installer's config says about the station: identity and EVSE wiring, for every version."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class EvseSpec:
    evse_id: int
    max_current_a: float
    phases: int
    has_lock: bool = True


@dataclass(frozen=True, slots=True)
class StationInfo:
    """Static identity and wiring of the station, from the installer's config."""

    station_id: str
    vendor: str
    model: str
    serial_number: str = ""
    firmware_version: str = ""
    evses: tuple[EvseSpec, ...] = (EvseSpec(1, 32.0, 3),)
    call_timeout_s: float = 30.0
    ping_interval_s: int = 30  # the installer's default for WebSocketPingInterval
    validate: bool = True
    extra: dict[str, str] = field(default_factory=dict)
    security_profile: int = 0  # the installer's connection (SecurityProfile / SecurityCtrlr.SecurityProfile)
    set_system_clock: bool = False  # the installer lets the station set the board clock from the CSMS
    site_max_current_a: float | None = None  # the grid connection's limit per phase, shared between EVSEs
    voltage_v: float = 230.0  # phase-to-neutral voltage, for charging schedules in W
