"""The HAL error tree, shared by every driver and the simulator.

    HalError                      root; never raised itself
    ├── DeviceUnavailable         port missing / device unplugged (retryable: yes, after a delay)
    ├── DeviceTimeout             no answer in time; also a TimeoutError (retryable: yes)
    ├── DeviceProtocolError       garbled frame, bad checksum, exception reply (retryable: yes, counted)
    └── DeviceFault               the device reports a fault of its own (retryable: no, until cleared)

Drivers wrap foreign exceptions (serial, pymodbus, OSError) exactly once at their boundary with
``raise ... from err``.
"""


class HalError(Exception):
    """Root of every error a HAL device raises."""

    retryable = True


class DeviceUnavailable(HalError):
    """The device or its port is not there (unplugged, no such port, permission denied)."""


class DeviceTimeout(HalError, TimeoutError):
    """The device did not answer within its timeout."""


class DeviceProtocolError(HalError):
    """The device answered with bytes we cannot accept (checksum, framing, exception reply)."""


class DeviceFault(HalError):
    """The device reports a fault of its own (e.g. a stuck relay); not retryable until cleared."""

    retryable = False
