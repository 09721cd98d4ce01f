"""The one owner of each Modbus line (RS-485 port) or TCP endpoint: serialised, paced, retried requests.

Every pymodbus call of the project is in this module, because pymodbus changes its API between minor
versions (pinned: 3.16). Meters and relay modules on one line share one ``ModbusBus`` (keyed by port), each
through its own ``BusDevice`` (unit id, timeout, retries, inter-frame delay, counters).

The ``port`` option:

    "/dev/ttyUSB0", "/dev/serial/by-id/..."   Modbus RTU on a serial port
    "socket://host:port"                       Modbus RTU frames over a raw TCP socket (pyserial URL; a
                                               transparent serial server, or a simulator)
    "tcp://host[:port]"                        Modbus TCP (MBAP framing, port 502 by default)

pymodbus' async serial client reads through ``loop.add_reader(fileno)``, so the port must have a file
descriptor: device paths, pty paths and ``socket://`` work; ``loop://`` and ``rfc2217://`` are rejected.

Behaviour worth knowing:

* pymodbus sends the next request as soon as the previous answer is decoded and inserts no silence
  (pymodbus issue #2827), so the bus waits ``inter_frame_delay_s`` after every transaction: by default
  t3.5 (3.5 characters, fixed 1.75 ms above 19200 baud: Modbus over serial line V1.02 §2.5.1.1) plus 5 ms
  of device turnaround.
* pymodbus' defaults (3 s timeout, 3 retries) would take 12 s to notice a dead meter. Each attempt here
  waits ``timeout_s`` (default 0.4 s) plus the frames' wire time, with ``retries`` (default 1) re-sends:
  a dead meter raises ``DeviceTimeout`` after about a second.
* The bus lock is held per attempt, not per request, so a relay command slips in between the retries of
  a dead meter.
* pymodbus drops a frame with a bad CRC silently and waits; any bytes received during an attempt that
  produced no answer make it a garbled frame (``DeviceProtocolError``, counted, retried), silence makes it
  a timeout. Garbage that the framer skipped before a good answer is counted too.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TypeAlias
from urllib.parse import urlsplit

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU

from drivers.modbus.model import BAUDRATES, PARITIES, SerialDefaults
from drivers.options import OptionError
from hal.errors import DeviceProtocolError, DeviceTimeout, DeviceUnavailable, HalError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 0.4
DEFAULT_RETRIES = 1
MODBUS_TCP_PORT = 502
# Modbus over serial line V1.02 §2.5.1.1: above 19200 baud t3.5 is fixed at 1.75 ms.
T35_FLOOR_S = 0.00175
# Device turnaround allowance added to t3.5 in the default inter-frame delay.
TURNAROUND_S = 0.005
# pymodbus' own timeout only bounds what our asyncio.timeout() does not (it must never fire first).
_PYMODBUS_BACKSTOP_S = 30.0
_NO_FILENO_SCHEMES = ("loop", "rfc2217")

# Options every Modbus device understands (the meter and relay factories add their own).
BUS_OPTIONS = frozenset(
    {
        "port",
        "baudrate",
        "parity",
        "stopbits",
        "unit",
        "timeout_s",
        "retries",
        "inter_frame_delay_s",
    }
)
_SERIAL_ONLY = ("baudrate", "parity", "stopbits", "inter_frame_delay_s")

Client: TypeAlias = AsyncModbusSerialClient | AsyncModbusTcpClient

_EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


@dataclass(frozen=True, slots=True)
class LineSettings:
    """One physical line or TCP endpoint and how characters travel on it."""

    port: str
    tcp: bool = False
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1

    @property
    def bits_per_char(self) -> int:
        # Start bit + 8 data bits + parity bit if any + stop bits (Modbus over serial line §2.5.1).
        return 1 + 8 + (0 if self.parity == "N" else 1) + self.stopbits

    @property
    def char_time_s(self) -> float:
        return 0.0 if self.tcp else self.bits_per_char / self.baudrate

    @property
    def t35_s(self) -> float:
        return 0.0 if self.tcp else max(3.5 * self.char_time_s, T35_FLOOR_S)

    @property
    def default_inter_frame_delay_s(self) -> float:
        return 0.0 if self.tcp else self.t35_s + TURNAROUND_S

    def wire_time_s(self, nbytes: int) -> float:
        """How long ``nbytes`` characters take on the wire (0 for Modbus TCP)."""
        return nbytes * self.char_time_s

    def describe(self) -> str:
        if self.tcp:
            return f"{self.port} (Modbus TCP)"
        return f"{self.port} {self.baudrate} 8{self.parity}{self.stopbits}"


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """How to talk to one unit id on a line."""

    unit: int = 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    inter_frame_delay_s: float = 0.0


@dataclass(slots=True)
class DeviceCounters:
    """Per-device traffic counters (diagnostics; never reset)."""

    requests: int = 0  # reads/writes asked of the device (a retry is not a new request)
    attempts: int = 0  # frames sent: requests plus retries
    timeouts: int = 0  # attempts that got no byte back
    protocol_errors: int = 0  # garbled answers: bad CRC, garbage on the line, wrong length
    exception_replies: int = 0  # Modbus exception responses
    failures: int = 0  # requests that raised


# --- options -----------------------------------------------------------------------------------------


def _number(options: Mapping[str, object], key: str, default: float, lo: float, hi: float) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OptionError(f"{key}: expected a number of seconds, got {value!r}")
    if not lo <= value <= hi:
        raise OptionError(f"{key}: {value} is out of range {lo}..{hi}")
    return float(value)


def _integer(options: Mapping[str, object], key: str, default: int, lo: int, hi: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"{key}: expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise OptionError(f"{key}: {value} is out of range {lo}..{hi}")
    return value


def parse_line(
    options: Mapping[str, object], defaults: SerialDefaults | None = None
) -> LineSettings:
    """The line settings from the device options, falling back to the model's factory ``defaults``."""
    base = defaults or SerialDefaults()
    port = options.get("port")
    if not isinstance(port, str) or not port.strip():
        raise OptionError(f"port: expected a device path, socket:// or tcp:// URL, got {port!r}")
    scheme = port.partition("://")[0].lower() if "://" in port else ""
    if scheme in _NO_FILENO_SCHEMES:
        raise OptionError(
            f"port: {scheme}:// has no file descriptor, which pymodbus' async serial client needs "
            "(use a device path or socket://host:port)"
        )
    if scheme == "tcp":
        for key in _SERIAL_ONLY:
            if key in options:
                raise OptionError(f"{key}: not used with a tcp:// port (Modbus TCP)")
        parts = urlsplit(port)
        try:
            tcp_port = parts.port or MODBUS_TCP_PORT
        except ValueError as err:
            raise OptionError(f"port: {port!r}: {err}") from None
        if not parts.hostname:
            raise OptionError(f"port: {port!r} names no host (tcp://host[:port])")
        return LineSettings(port=f"tcp://{parts.hostname}:{tcp_port}", tcp=True)
    baudrate = options.get("baudrate", base.baudrate)
    if baudrate not in BAUDRATES or isinstance(baudrate, bool) or not isinstance(baudrate, int):
        raise OptionError(
            f"baudrate: expected one of {', '.join(map(str, BAUDRATES))}, got {baudrate!r}"
        )
    parity = options.get("parity", base.parity)
    if not isinstance(parity, str) or parity.upper() not in PARITIES:
        raise OptionError(f"parity: expected N, E or O, got {parity!r}")
    stopbits = _integer(options, "stopbits", base.stopbits, 1, 2)
    return LineSettings(port=port, baudrate=baudrate, parity=parity.upper(), stopbits=stopbits)


def parse_device(
    options: Mapping[str, object], line: LineSettings, defaults: SerialDefaults | None = None
) -> DeviceSettings:
    """The per-device settings (unit id, timeout, retries, inter-frame delay)."""
    base = defaults or SerialDefaults()
    # Unit 0 is the RTU broadcast address (no answer); Modbus TCP devices often answer on 0 or 255.
    unit = _integer(options, "unit", base.unit, 0 if line.tcp else 1, 255 if line.tcp else 247)
    return DeviceSettings(
        unit=unit,
        timeout_s=_number(options, "timeout_s", DEFAULT_TIMEOUT_S, 0.01, 10.0),
        retries=_integer(options, "retries", DEFAULT_RETRIES, 0, 5),
        inter_frame_delay_s=_number(
            options, "inter_frame_delay_s", line.default_inter_frame_delay_s, 0.0, 1.0
        ),
    )


# --- requests ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    """One Modbus transaction: how to make it, its RTU frame sizes (for wire time) and its check."""

    what: str
    call: Callable[[Client, int], Awaitable[ModbusPDU]]
    request_bytes: int
    response_bytes: int
    accept: Callable[[ModbusPDU], bool]


class ModbusBus:
    """The single owner of one line: one pymodbus client, one lock, the inter-frame pacing."""

    def __init__(self, line: LineSettings, key: str) -> None:
        self.line = line
        self.key = key
        self.shares = 0
        self._lock = asyncio.Lock()
        self._client: Client | None = None
        self._was_connected = False
        self._last_end = -math.inf
        self._last_gap = 0.0
        # Receive-side accounting of the current attempt, fed by pymodbus' trace_packet hook.
        self._rx_total = 0
        self._rx_last = b""

    def __repr__(self) -> str:
        return f"<ModbusBus {self.line.describe()} shares={self.shares}>"

    # pymodbus calls this with every outgoing frame and with its receive buffer after each read.
    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            previous = self._rx_last
            grew = len(data) > len(previous) and data.startswith(previous)
            self._rx_total += len(data) - len(previous) if grew else len(data)
            self._rx_last = data
        return data

    def _make_client(self) -> Client:
        # timeout: only a backstop, our asyncio.timeout() per attempt must fire first.
        # retries=0: retries are ours (per-attempt accounting; the lock is released between attempts).
        # reconnect_delay=0: no background reconnect task; we reopen on demand, under the lock.
        if self.line.tcp:
            parts = urlsplit(self.line.port)
            return AsyncModbusTcpClient(
                parts.hostname or "",
                port=parts.port or MODBUS_TCP_PORT,
                framer=FramerType.SOCKET,
                timeout=_PYMODBUS_BACKSTOP_S,
                retries=0,
                reconnect_delay=0,
                trace_packet=self._trace_packet,
            )
        return AsyncModbusSerialClient(
            self.line.port,
            framer=FramerType.RTU,
            baudrate=self.line.baudrate,
            bytesize=8,
            parity=self.line.parity,
            stopbits=self.line.stopbits,
            timeout=_PYMODBUS_BACKSTOP_S,
            retries=0,
            reconnect_delay=0,
            trace_packet=self._trace_packet,
        )

    async def _connected(self, device: DeviceSettings) -> Client:
        if self._client is None:
            self._client = self._make_client()
        client = self._client
        if client.connected:
            return client
        if self._was_connected:
            log.warning("%s: connection lost, reopening", self.line.describe())
            self._was_connected = False
        if not _port_exists(self.line.port):
            raise DeviceUnavailable(f"{self.line.port}: no such port")
        try:
            async with asyncio.timeout(max(device.timeout_s * (device.retries + 1), 1.0)):
                opened = await client.connect()
        except TimeoutError:
            opened = False
        except OSError as err:  # pragma: no cover - pymodbus catches these itself in 3.16
            raise DeviceUnavailable(f"{self.line.port}: cannot open: {err}") from err
        if not opened:
            raise DeviceUnavailable(f"{self.line.port}: cannot open (see the pymodbus log for why)")
        log.info("%s: open", self.line.describe())
        self._was_connected = True
        return client

    async def _quiet(self, device: DeviceSettings) -> None:
        """Wait until the line has been silent long enough for the previous and the next device."""
        gap = max(self._last_gap, device.inter_frame_delay_s)
        wait = self._last_end + gap - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)

    def _attempt_timeout(self, device: DeviceSettings, request: _Request) -> float:
        return device.timeout_s + self.line.wire_time_s(
            request.request_bytes + request.response_bytes
        )

    def _expected_bytes(self, response: ModbusPDU) -> int:
        # RTU: address + function code + payload + CRC(2); TCP: MBAP header(7) + function code + payload.
        return (8 if self.line.tcp else 4) + len(response.encode())

    async def _attempt(
        self, device: DeviceSettings, counters: DeviceCounters, request: _Request
    ) -> ModbusPDU | HalError:
        """One frame out, one answer back; a retryable failure is returned, a final one raised."""
        async with self._lock:
            await self._quiet(device)
            client = await self._connected(
                device
            )  # after the wait: the port may have gone meanwhile
            self._rx_total, self._rx_last = 0, b""
            counters.attempts += 1
            try:
                async with asyncio.timeout(self._attempt_timeout(device, request)):
                    response = await request.call(client, device.unit)
            except TimeoutError:
                if self._rx_total:
                    counters.protocol_errors += 1
                    return DeviceProtocolError(
                        f"{self.name(device)}: {request.what}: garbled answer ({self._rx_total} bytes "
                        "that make no valid frame: bad CRC or noise)"
                    )
                counters.timeouts += 1
                return DeviceTimeout(f"{self.name(device)}: {request.what}: no answer")
            except ConnectionException as err:
                raise DeviceUnavailable(f"{self.name(device)}: {request.what}: {err}") from err
            except (
                ModbusException
            ) as err:  # ModbusIOException included: undecodable or mismatched frame
                counters.protocol_errors += 1
                return DeviceProtocolError(f"{self.name(device)}: {request.what}: {err}")
            except OSError as err:
                self._drop_client()
                raise DeviceUnavailable(f"{self.name(device)}: {request.what}: {err}") from err
            finally:
                self._last_end = asyncio.get_running_loop().time()
                self._last_gap = device.inter_frame_delay_s
            if self._rx_total > self._expected_bytes(response):
                counters.protocol_errors += 1  # the framer skipped garbage before the good frame
                log.debug("%s: %d stray bytes before the answer", self.name(device), self._rx_total)
        if response.isError():
            counters.exception_replies += 1
            code = response.exception_code
            meaning = _EXCEPTION_NAMES.get(code, "unknown")
            raise DeviceProtocolError(
                f"{self.name(device)}: {request.what}: exception reply {code} ({meaning})"
            )
        if not request.accept(response):
            counters.protocol_errors += 1
            return DeviceProtocolError(
                f"{self.name(device)}: {request.what}: unexpected answer {response}"
            )
        return response

    async def execute(
        self, device: DeviceSettings, counters: DeviceCounters, request: _Request
    ) -> ModbusPDU:
        """Run ``request`` with up to ``device.retries`` re-sends after a timeout or a garbled answer."""
        counters.requests += 1
        try:
            for attempt in range(device.retries + 1):
                outcome = await self._attempt(device, counters, request)
                if not isinstance(outcome, HalError):
                    return outcome
                if attempt == device.retries:
                    raise outcome
            raise AssertionError("unreachable")  # pragma: no cover
        except HalError:
            counters.failures += 1
            raise

    def name(self, device: DeviceSettings) -> str:
        return f"{self.line.port} unit {device.unit}"

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        """Close the port (when the last device on it is closed)."""
        self._drop_client()
        if self._was_connected:
            log.info("%s: closed", self.line.describe())
            self._was_connected = False


_BUSES: dict[str, ModbusBus] = {}


def _port_exists(port: str) -> bool:
    """False for a device path that is not there (unplugged adapter); URLs are tried by connecting."""
    return "://" in port or os.path.exists(port)


def _bus_key(line: LineSettings) -> str:
    if "://" in line.port:
        return line.port.lower() if line.tcp else line.port
    return os.path.realpath(line.port)  # /dev/serial/by-id/... and /dev/ttyUSB0 are one line


def acquire_bus(line: LineSettings) -> ModbusBus:
    """The shared bus for ``line``, created on first use; every device on a line uses the same settings."""
    key = _bus_key(line)
    bus = _BUSES.get(key)
    if bus is None:
        bus = _BUSES[key] = ModbusBus(line, key)
    elif replace(bus.line, port=line.port) != line:  # the same line may be named by two paths
        raise OptionError(
            f"port: {line.port} is already open as {bus.line.describe()}, this device asks for "
            f"{line.describe()}; all devices on one line must use the same settings"
        )
    bus.shares += 1
    return bus


def release_bus(bus: ModbusBus) -> None:
    """Give back one share; the last one closes the port."""
    bus.shares -= 1
    if bus.shares <= 0:
        if _BUSES.get(bus.key) is bus:
            del _BUSES[bus.key]
        bus.close()


def open_buses() -> list[ModbusBus]:
    """The buses currently shared (diagnostics and tests)."""
    return list(_BUSES.values())


class BusDevice:
    """One unit id on a shared bus: the reads and writes a driver needs, with HAL errors and counters."""

    def __init__(self, bus: ModbusBus, settings: DeviceSettings) -> None:
        self.bus = bus
        self.settings = settings
        self.counters = DeviceCounters()
        self._closed = False
        self._failing = False

    def __repr__(self) -> str:
        return f"<BusDevice {self.bus.line.describe()} unit {self.settings.unit}>"

    async def _run(self, request: _Request) -> ModbusPDU:
        if self._closed:
            raise DeviceUnavailable(f"{self!r} is closed")
        try:
            response = await self.bus.execute(self.settings, self.counters, request)
        except HalError as err:
            if not self._failing:  # log when a failure starts, not on every poll
                log.warning("%s", err)
                self._failing = True
            raise
        if self._failing:
            log.info("%s: answering again", self.bus.name(self.settings))
            self._failing = False
        return response

    async def read_registers(self, function: int, address: int, count: int) -> list[int]:
        """FC03 (holding) or FC04 (input) registers ``address .. address + count - 1``."""
        if function not in (3, 4):
            raise ValueError(f"function {function}: registers are read with FC03 or FC04")

        def call(client: Client, unit: int) -> Awaitable[ModbusPDU]:
            read = client.read_holding_registers if function == 3 else client.read_input_registers
            return read(address, count=count, device_id=unit)

        response = await self._run(
            _Request(
                what=f"FC{function:02d} read {count} at {address:#06x}",
                call=call,
                request_bytes=8,
                response_bytes=5 + 2 * count,
                accept=lambda pdu: pdu.function_code == function and len(pdu.registers) == count,
            )
        )
        return list(response.registers)

    async def read_bits(self, function: int, address: int, count: int) -> list[bool]:
        """FC01 (coils) or FC02 (discrete inputs) ``address .. address + count - 1``."""
        if function not in (1, 2):
            raise ValueError(f"function {function}: bits are read with FC01 or FC02")

        def call(client: Client, unit: int) -> Awaitable[ModbusPDU]:
            read = client.read_coils if function == 1 else client.read_discrete_inputs
            return read(address, count=count, device_id=unit)

        response = await self._run(
            _Request(
                what=f"FC{function:02d} read {count} bits at {address}",
                call=call,
                request_bytes=8,
                response_bytes=5 + (count + 7) // 8,
                accept=lambda pdu: pdu.function_code == function and len(pdu.bits) >= count,
            )
        )
        return [bool(bit) for bit in response.bits[:count]]

    async def write_coil(self, address: int, value: bool) -> None:
        """FC05: set one coil; the device echoes the request."""

        def call(client: Client, unit: int) -> Awaitable[ModbusPDU]:
            return client.write_coil(address, value, device_id=unit)

        await self._run(
            _Request(
                what=f"FC05 write coil {address} = {int(value)}",
                call=call,
                request_bytes=8,
                response_bytes=8,
                accept=lambda pdu: (
                    pdu.function_code == 5
                    and pdu.address == address
                    and list(pdu.bits[:1]) == [value]
                ),
            )
        )

    async def close(self) -> None:
        """Release this device's share of the bus (the last one closes the port)."""
        if not self._closed:
            self._closed = True
            release_bus(self.bus)


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """The parsed line and device settings of one device."""

    line: LineSettings
    device: DeviceSettings


def parse_device_options(
    options: Mapping[str, object], defaults: SerialDefaults | None = None
) -> DeviceConfig:
    """Check the shared Modbus options of one device, without opening anything."""
    line = parse_line(options, defaults)
    return DeviceConfig(line=line, device=parse_device(options, line, defaults))


def open_device(config: DeviceConfig) -> BusDevice:
    """Join (or create) the bus of ``config.line`` as the device ``config.device``. Opens nothing yet:
    the port is opened by the first request, and reopened by later ones after it went away."""
    return BusDevice(acquire_bus(config.line), config.device)
