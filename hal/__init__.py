"""Small typed device contracts shared by the core, the simulator and the real drivers.

Units are in the names (``energy_wh``, ``current_a``). Value types here are plain frozen dataclasses and
enums so the pure core may import them.
"""

from hal.errors import DeviceFault, DeviceProtocolError, DeviceTimeout, DeviceUnavailable, HalError
from hal.types import FaultCode, MeterSample, PilotState

__all__ = [
    "DeviceFault",
    "DeviceProtocolError",
    "DeviceTimeout",
    "DeviceUnavailable",
    "FaultCode",
    "HalError",
    "MeterSample",
    "PilotState",
]
