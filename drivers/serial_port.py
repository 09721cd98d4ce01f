"""An asyncio byte stream over a pyserial port or URL, for the serial drivers (RFID, EVSE controllers).

pyserial has no asyncio API of its own, so the port is opened non-blocking (``timeout=0``) and the event
loop watches its file descriptor, as pymodbus does for its serial transport. Any pyserial URL with a
selectable file descriptor works: a device path (``/dev/ttyS1``), a pseudo-terminal, ``socket://host:port``.

Every pyserial or OS error is wrapped once, here, into the HAL error tree: a missing port, a port that
went away (USB adapter unplugged, peer closed) and EOF all become ``DeviceUnavailable``; the driver's
supervisor reopens the port later.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

import serial

from hal.errors import DeviceUnavailable

_CHUNK = 4096


class SerialPort:
    """One open serial line. ``read`` returns whatever bytes have arrived (at least one)."""

    def __init__(self, url: str, *, baudrate: int = 9600, parity: str = "N", stopbits: int = 1) -> None:
        self.url = url
        self.baudrate = baudrate
        self.parity = parity
        self.stopbits = stopbits
        self._serial: serial.SerialBase | None = None

    def __repr__(self) -> str:
        return f"<SerialPort {self.url} {self.baudrate} {self.parity}>"

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    async def open(self) -> None:
        """Open the port (a no-op when it is open)."""
        if self._serial is not None:
            return
        try:
            port = serial.serial_for_url(
                self.url,
                baudrate=self.baudrate,
                parity=self.parity,
                stopbits=self.stopbits,
                timeout=0,
                write_timeout=2,
                do_not_open=True,
            )
            if not self.url.startswith(("socket://", "rfc2217://", "loop://")):
                port.exclusive = True  # one owner per line (pyserial's flock on POSIX)
            port.open()
        except (serial.SerialException, OSError, ValueError) as err:
            raise DeviceUnavailable(f"{self.url}: cannot open: {err}") from err
        self._serial = port

    def _port(self) -> serial.SerialBase:
        if self._serial is None:
            raise DeviceUnavailable(f"{self.url}: not open")
        return self._serial

    async def read(self) -> bytes:
        """Wait for input and return what is there; ``DeviceUnavailable`` when the line is gone."""
        port = self._port()
        while True:
            data = self._read_now(port)
            if data:
                return data
            await self._readable(port)

    def _read_now(self, port: serial.SerialBase) -> bytes:
        try:
            waiting = port.in_waiting
            data: bytes = port.read(max(waiting, 1) if waiting else _CHUNK)
        except (serial.SerialException, OSError) as err:
            self._drop()
            raise DeviceUnavailable(f"{self.url}: {err}") from err
        return data

    async def _readable(self, port: serial.SerialBase) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        fd = port.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            loop.remove_reader(fd)

    async def write(self, data: bytes) -> None:
        """Send ``data``; ``DeviceUnavailable`` when the line is gone."""
        port = self._port()
        try:
            await asyncio.to_thread(self._write_all, port, data)
        except (serial.SerialException, OSError) as err:
            self._drop()
            raise DeviceUnavailable(f"{self.url}: {err}") from err

    @staticmethod
    def _write_all(port: serial.SerialBase, data: bytes) -> None:
        port.write(data)
        port.flush()

    def reset_input(self) -> None:
        """Discard bytes received and not yet read (a resync after garbage)."""
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._serial.reset_input_buffer()

    def _drop(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()

    async def close(self) -> None:
        """Close the port (idempotent)."""
        self._drop()

    async def __aenter__(self) -> SerialPort:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
