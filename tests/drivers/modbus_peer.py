"""Simulated Modbus devices for driver tests and benchmarks: meters served from their model data files.

Pieces:

* ``encode_value`` / ``SAMPLE_VALUES``: register words for a value, written independently of the driver's
  decoder (struct, own unit table) so a symmetric mistake in both cannot pass unnoticed.
* ``SimMeter``: one meter (a unit id) serving a model's registers, in OCPP base units (Wh, W, A, V, Hz).
  Knobs: ``dead`` (never answers), ``exception_code`` (answers every read with that exception),
  ``corrupt_next`` (that many answers get a bad CRC), ``garbage_next`` (bytes sent before the next
  answer), ``set()`` (values that change).
* ``SimRelay``: a relay module: coils (FC05/FC01), a mirror contact as discrete input (FC02) and
  optionally as a coil, with ``stuck`` to weld it / hold it open.
* ``PtyLink``: two pseudo-terminals joined back to back (the driver opens one end, the server the other),
  optionally pacing every byte at a real baud rate: ``t_byte = max(t_arrival, t_prev_byte) + bits/baud``,
  and answers not before t3.5 after the request's last byte (the slave detecting the frame end).
* ``ModbusPeer``: a real pymodbus server (``ModbusSerialServer`` on a ``PtyLink``, ``ModbusTcpServer`` for
  Modbus TCP or RTU-over-TCP) for a list of simulated devices sharing one line; it records every request
  and can be stopped and started again on the same port.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import struct
import tty
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.modbus.model import MeterModel, Register

# Base-unit factor of every unit a model may declare (kept apart from the driver's own table).
_UNIT_FACTOR = {"Wh": 1.0, "kWh": 1000.0, "varh": 1.0, "kvarh": 1000.0, "W": 1.0, "kW": 1000.0}
_STRUCT = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
    "float32": "f",
    "float64": "d",
}

# Known values in OCPP base units, chosen to be exact at every scale the shipped models use
# (0.1 V, 0.001 A, 0.1 W, 0.001 PF, 0.1 Hz, 0.1 kWh) and distinct per phase.
SAMPLE_VALUES: dict[str, float] = {
    "Voltage.L1": 230.1,
    "Voltage.L2": 231.2,
    "Voltage.L3": 229.3,
    "Current.Import.L1": 16.01,
    "Current.Import.L2": 15.52,
    "Current.Import.L3": 14.03,
    "Power.Active.Import.L1": 3680.5,
    "Power.Active.Import.L2": 3590.1,
    "Power.Active.Import.L3": 3210.4,
    "Power.Active.Import": 10481.0,
    "Power.Factor.L1": 0.981,
    "Power.Factor.L2": 0.972,
    "Power.Factor.L3": 0.963,
    "Power.Factor": 0.975,
    "Frequency": 49.9,
    "Energy.Active.Import.Register": 12_345_600.0,
    "Energy.Active.Export.Register": 1_200.0,
    "Energy.Reactive.Import.Register": 100_500.0,
    "Energy.Reactive.Export.Register": 2_300.0,
}


def encode_value(reg: Register, value: float | None) -> list[int]:
    """The register words that make the driver read ``value`` (base unit); None = "not available"."""
    fmt = _STRUCT[reg.kind.value]
    words = reg.kind.words
    if value is None:
        if fmt in "fd":
            raw = struct.pack(">" + fmt, math.nan)
        elif fmt.isupper():  # unsigned: all ones
            raw = b"\xff" * (2 * words)
        else:  # signed: 0x7FFF...
            raw = b"\x7f" + b"\xff" * (2 * words - 1)
    else:
        scaled = value / _UNIT_FACTOR.get(reg.unit, 1.0) / reg.scale
        raw = struct.pack(">" + fmt, scaled if fmt in "fd" else round(scaled))
    big_endian_words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return big_endian_words if reg.word_order.value == "ABCD" else big_endian_words[::-1]


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the server decoded it."""

    unit: int
    function: int
    address: int
    count: int
    received_at: float = field(default=0.0, compare=False)  # event-loop time the server decoded it


class _LineFaults:
    """What happens to this device's answers on the wire."""

    def __init__(self) -> None:
        self.dead = False
        self.corrupt_next = 0
        self.garbage_next = b""

    def apply(self, frame: bytes) -> bytes:
        if self.dead:
            return b""
        if self.corrupt_next > 0:
            self.corrupt_next -= 1
            frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])  # the last CRC byte
        if self.garbage_next:
            frame, self.garbage_next = self.garbage_next + frame, b""
        return frame


class SimMeter(_LineFaults):
    """One simulated meter: ``model``'s registers with known values, at ``unit`` on the line."""

    def __init__(
        self, model: MeterModel, *, unit: int = 1, values: Mapping[str, float | None] | None = None
    ) -> None:
        super().__init__()
        self.model = model
        self.unit = unit
        self.exception_code: int | None = None
        base = SAMPLE_VALUES if values is None else values
        self.values: dict[str, float | None] = {
            reg.key: base.get(reg.key, 0.0) for reg in model.registers
        }
        self._image: dict[int, dict[int, int]] = {3: {}, 4: {}}
        for key, value in self.values.items():
            self.set(key, value)

    def set(self, key: str, value: float | None) -> None:
        """Change what the meter reports for ``key`` (base unit; None = "not available")."""
        reg = self.model.register(key)
        if reg is None:
            raise KeyError(f"{self.model.name} has no register {key!r}")
        self.values[key] = value
        for offset, word in enumerate(encode_value(reg, value)):
            self._image[reg.function][reg.address + offset] = word

    def _spans(self, function: int) -> list[tuple[int, int]]:
        """Served address ranges: registers joined across gaps the model says the meter accepts."""
        spans: list[list[int]] = []
        for reg in sorted(
            (r for r in self.model.registers if r.function == function), key=lambda r: r.address
        ):
            if spans and reg.address - spans[-1][1] <= self.model.max_read_gap:
                spans[-1][1] = max(spans[-1][1], reg.end)
            else:
                spans.append([reg.address, reg.end])
        return [(start, end) for start, end in spans]

    def sim_device(self) -> SimDevice:
        blocks: dict[int, list[SimData]] = {}
        for function in (3, 4):
            blocks[function] = [
                SimData(start, values=[0] * (end - start), datatype=DataType.REGISTERS)
                for start, end in self._spans(function)
            ] or [SimData(0xFFF0, values=[0], datatype=DataType.REGISTERS)]
        bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
        return SimDevice(
            id=self.unit, simdata=(bits, list(bits), blocks[3], blocks[4]), action=self._action
        )

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self.exception_code is not None:
            return ExcCodes(self.exception_code)
        for reg_address, word in self._image.get(function_code, {}).items():
            index = reg_address - start_address
            if 0 <= index < len(registers):
                registers[index] = word
        return None


class SimRelay(_LineFaults):
    """A relay module: output coils; the contactor's mirror contact as a discrete input (and optionally
    as a coil) that follows ``coil`` unless ``stuck`` holds it closed (welded) or open."""

    def __init__(
        self,
        *,
        unit: int = 3,
        coil: int = 0,
        feedback_input: int = 0,
        feedback_coil: int | None = None,
    ) -> None:
        super().__init__()
        self.unit = unit
        self.coil = coil
        self.feedback_input = feedback_input
        self.feedback_coil = feedback_coil
        self.coils: dict[int, bool] = {}
        self.stuck: bool | None = None
        self.exception_code: int | None = None

    @property
    def contactor_closed(self) -> bool:
        return self.coils.get(self.coil, False) if self.stuck is None else self.stuck

    def sim_device(self) -> SimDevice:
        bits = [SimData(0, values=[False] * 32, datatype=DataType.BITS)]
        regs = [SimData(0, values=[0], datatype=DataType.REGISTERS)]
        return SimDevice(
            id=self.unit, simdata=(bits, list(bits), regs, list(regs)), action=self._action
        )

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if self.exception_code is not None:
            return ExcCodes(self.exception_code)
        if function_code == 5 and set_values:
            self.coils[address] = bool(set_values[0])
            return None
        state = dict(self.coils) if function_code == 1 else {}
        if function_code == 1 and self.feedback_coil is not None:
            state[self.feedback_coil] = self.contactor_closed
        if function_code == 2:
            state[self.feedback_input] = self.contactor_closed
        for bit_address, value in state.items():
            index, bit = bit_address // 16 - start_address, bit_address % 16
            if 0 <= index < len(registers):
                registers[index] = (
                    registers[index] | (1 << bit) if value else registers[index] & ~(1 << bit)
                )
        return None


SimModbusDevice = SimMeter | SimRelay


class _Direction:
    """One direction of a ``PtyLink``: copies bytes, paced at the baud rate when there is one."""

    def __init__(self, link: PtyLink, src: int, dst: int, to_server: bool) -> None:
        self.link, self.src, self.dst, self.to_server = link, src, dst, to_server
        self.queue: collections.deque[tuple[float, int]] = collections.deque()
        self.t_prev = -math.inf  # when the previous byte left the wire
        self.timer: asyncio.TimerHandle | None = None
        self.frame_starts = 0

    def readable(self) -> None:
        try:
            data = os.read(self.src, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # the other end is gone
            return
        link = self.link
        if link.char_time_s == 0:
            self._write(data)
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        other = link._to_client if self.to_server else link._to_server
        for byte in data:
            start = max(now, self.t_prev)
            if not self.to_server:  # the slave answers only after t3.5 of silence after the request
                start = max(start, other.t_prev + link.t35_s)
            elif start > self.t_prev + link.char_time_s / 2:  # a new request frame
                self.frame_starts += 1
                if start - other.t_prev < link.t35_s * 0.999:
                    link.gap_violations += 1
            self.t_prev = start + link.char_time_s
            self.queue.append((self.t_prev, byte))
        self._schedule()

    def _schedule(self) -> None:
        if self.timer is None and self.queue:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_at(self.queue[0][0], self._flush)

    def _flush(self) -> None:
        self.timer = None
        now = asyncio.get_running_loop().time()
        out = bytearray()
        while self.queue and self.queue[0][0] <= now:
            out.append(self.queue.popleft()[1])
        if out:
            self._write(bytes(out))
        self._schedule()

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # nobody listening: the bytes are lost, as on a wire
            os.write(self.dst, data)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class PtyLink:
    """Two pseudo-terminals joined back to back: the driver opens ``client_port``, the server
    ``server_port``. With ``baudrate``, each byte is released when it would have left a real wire."""

    def __init__(self, *, baudrate: int | None = None, bits_per_char: int = 10) -> None:
        self.char_time_s = bits_per_char / baudrate if baudrate else 0.0
        self.t35_s = max(3.5 * self.char_time_s, 0.00175) if baudrate else 0.0
        self.gap_violations = 0
        self._fds: list[int] = []
        self.client_port = self.server_port = ""

    def open(self) -> None:
        """Create the pair and start copying (call from the event loop that serves them)."""
        loop = asyncio.get_running_loop()
        client_master, client_slave = os.openpty()
        server_master, server_slave = os.openpty()
        # Raw mode before anyone opens the slaves (no echo, no line editing); our own slave fds stay
        # open so a closed port does not turn the master into an EIO loop.
        for fd in (client_slave, server_slave):
            tty.setraw(fd)
        for fd in (client_master, server_master):
            os.set_blocking(fd, False)
        self._fds = [client_master, client_slave, server_master, server_slave]
        self.client_port, self.server_port = os.ttyname(client_slave), os.ttyname(server_slave)
        self._to_server = _Direction(self, client_master, server_master, to_server=True)
        self._to_client = _Direction(self, server_master, client_master, to_server=False)
        loop.add_reader(client_master, self._to_server.readable)
        loop.add_reader(server_master, self._to_client.readable)

    def close(self) -> None:
        if not self._fds:
            return
        loop = asyncio.get_running_loop()
        for direction in (self._to_server, self._to_client):
            direction.cancel()
            loop.remove_reader(direction.src)
        for fd in self._fds:
            os.close(fd)
        self._fds = []


Transport = Literal["rtu", "tcp", "rtu_over_tcp"]


@dataclass(slots=True)
class ModbusPeer:
    """A pymodbus server for ``devices`` on one line; ``port`` is what a driver config puts in ``port``."""

    devices: Sequence[SimModbusDevice]
    transport: Transport = "rtu"
    baudrate: int = 9600
    link: PtyLink | None = None
    requests: list[Request] = field(default_factory=list)
    replied_at: list[float] = field(default_factory=list)  # event-loop time of every answer sent
    port: str = ""
    _server: ModbusSerialServer | ModbusTcpServer | None = None
    _tcp_port: int = 0
    _reply_unit: int = -1
    _own_link: bool = False

    def _device(self, unit: int) -> SimModbusDevice | None:
        return next((dev for dev in self.devices if dev.unit == unit), None)

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if sending:
            self._reply_unit = pdu.dev_id
        else:
            now = asyncio.get_running_loop().time()
            self.requests.append(
                Request(pdu.dev_id, pdu.function_code, pdu.address, pdu.count, now)
            )
        return pdu

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        device = self._device(self._reply_unit)
        if device is None:  # nobody on an RS-485 line answers for an absent unit id
            return b""
        data = device.apply(data)
        if data:
            self.replied_at.append(asyncio.get_running_loop().time())
        return data

    def requests_to(self, unit: int) -> list[Request]:
        return [req for req in self.requests if req.unit == unit]

    async def start(self) -> None:
        """Start serving (again): same pty pair or TCP port as before."""
        sim = [dev.sim_device() for dev in self.devices]
        hooks = {"trace_packet": self._trace_packet, "trace_pdu": self._trace_pdu}
        server: ModbusSerialServer | ModbusTcpServer
        if self.transport == "rtu":
            if self.link is None:
                self.link, self._own_link = PtyLink(), True
            if not self.link.client_port:
                self.link.open()
            server = ModbusSerialServer(
                sim,
                port=self.link.server_port,
                baudrate=self.baudrate,
                **hooks,  # type: ignore[arg-type]
            )
            self.port = self.link.client_port
        else:
            framer = FramerType.SOCKET if self.transport == "tcp" else FramerType.RTU
            server = ModbusTcpServer(
                sim,
                framer=framer,
                address=("127.0.0.1", self._tcp_port),
                **hooks,  # type: ignore[arg-type]
            )
        await server.serve_forever(background=True)
        self._server = server
        if self.transport != "rtu":
            sockets = server.transport.sockets  # type: ignore[attr-defined]
            self._tcp_port = sockets[0].getsockname()[1]
            scheme = "tcp" if self.transport == "tcp" else "socket"
            self.port = f"{scheme}://127.0.0.1:{self._tcp_port}"

    async def stop(self) -> None:
        """Stop answering and close the server's end (the pty pair stays, like the cable)."""
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
            await asyncio.sleep(0)  # let the transports finish closing

    async def close(self) -> None:
        await self.stop()
        if self._own_link and self.link is not None:
            self.link.close()

    async def __aenter__(self) -> ModbusPeer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
