"""The installer's ``chargepoint probe`` commands: talk to one device once and say what it answered.

Each probe builds the device through the HAL registry with the options given on the command line (the
same names as in the config's device tables), so a probe that works means the same table in the config
will work. Failures come back as a diagnosis the installer can act on, never a traceback.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TextIO

from hal import registry
from hal.contactor import Contactor
from hal.errors import DeviceFault, DeviceProtocolError, DeviceTimeout, DeviceUnavailable, HalError
from hal.meter import Meter
from hal.pilot import Pilot, PilotStatus
from hal.token_reader import TokenReader
from hal.types import MeterSample

EXIT_OK = 0
EXIT_NO_ANSWER = 1
EXIT_USAGE = 2

PHASE_NAMES = ("L1", "L2", "L3")


class ProbeError(Exception):
    """A probe could not be carried out; the message is the diagnosis."""

    def __init__(self, message: str, exit_code: int = EXIT_NO_ANSWER) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def parse_options(pairs: list[str]) -> dict[str, object]:
    """``key=value`` pairs (``--option``) as TOML would type them: integers, floats, true/false, text."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ProbeError(f"--option {pair!r}: expected key=value", EXIT_USAGE)
        options[key] = _typed(text)
    return options


def _typed(text: str) -> object:
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def create(kind: str, name: str, options: Mapping[str, object], **extra: object) -> object:
    """The device, as ``run`` would build it; bad names and options become a usage ``ProbeError``."""
    registry.discover()
    try:
        factory = registry.load(kind, name)
        return factory(options, **extra)
    except registry.UnknownDriver as err:
        raise ProbeError(str(err), EXIT_USAGE) from err
    except (ValueError, TypeError) as err:
        raise ProbeError(f"option {err}", EXIT_USAGE) from err


def _where(options: Mapping[str, object]) -> str:
    port = options.get("port") or options.get("chip") or options.get("path") or "?"
    serial = ""
    if "baudrate" in options or "parity" in options:
        baud = options.get("baudrate", "the default baud rate")
        serial = f" at {baud} {options.get('parity', '')}".rstrip()
    return f"{port}{serial}"


def diagnose(err: HalError, what: str, options: Mapping[str, object]) -> str:
    """What an installer should check for each kind of failure."""
    where = _where(options)
    if isinstance(err, DeviceTimeout):
        unit = f" (slave id {options['unit']})" if "unit" in options else ""
        return (f"no answer from the {what}{unit} on {where}: check the wiring (RS-485 A/B are often "
                "swapped), the baud rate, the parity and the slave id / address")
    if isinstance(err, DeviceUnavailable):
        return f"cannot use {where}: {err} (is it plugged in, and is the user in the 'dialout' group?)"
    if isinstance(err, DeviceProtocolError):
        return (f"the {what} on {where} answered with something we cannot accept: {err} (check the model "
                "or driver, and that no other program uses the port)")
    if isinstance(err, DeviceFault):
        return f"the {what} reports a fault: {err}"
    return f"the {what} failed: {err}"


def format_sample(sample: MeterSample) -> list[str]:
    """One line per OCPP measurand the sample carries, with its unit."""
    rows: list[tuple[str, str, float]] = [("Energy.Active.Import.Register", "Wh", sample.energy_wh)]
    if sample.energy_export_wh is not None:
        rows.append(("Energy.Active.Export.Register", "Wh", sample.energy_export_wh))
    if sample.power_w is not None:
        rows.append(("Power.Active.Import", "W", sample.power_w))
    for name, unit, values in (("Current.Import", "A", sample.current_a), ("Voltage", "V", sample.voltage_v)):
        for phase, value in zip(PHASE_NAMES, values or (), strict=False):
            rows.append((f"{name}.{phase}", unit, value))
    optional = (("Frequency", "Hz", sample.frequency_hz), ("Power.Factor", "", sample.power_factor),
                ("SoC", "Percent", sample.soc_percent))
    for name, unit, maybe in optional:
        if maybe is not None:
            rows.append((name, unit, maybe))
    return [f"{name:<32} {value:>12.3f} {unit}".rstrip() for name, unit, value in rows]


async def _closing(device: object) -> None:
    close = getattr(device, "close", None)
    if close is not None:
        try:
            async with asyncio.timeout(2.0):
                await close()
        except (HalError, TimeoutError):
            pass


async def probe_meter(options: Mapping[str, object], phases: int, out: TextIO = sys.stdout) -> int:
    """Read the meter once and print every measurand."""
    model = str(options.get("model", ""))
    meter = create("meter", model, options, phases=phases)
    assert isinstance(meter, Meter)
    try:
        sample = await meter.read()
    except HalError as err:
        raise ProbeError(diagnose(err, f"{model} meter", options)) from err
    finally:
        await _closing(meter)
    print(f"{model} on {_where(options)}: {phases} phase(s)", file=out)
    for line in format_sample(sample):
        print(f"  {line}", file=out)
    return EXIT_OK


async def probe_rfid(options: Mapping[str, object], timeout_s: float, out: TextIO = sys.stdout) -> int:
    """Wait for one card and print its UID in full (the installer holds the card; this is not a log)."""
    name = str(options.get("driver", ""))
    reader = create("token_reader", name, options)
    assert isinstance(reader, TokenReader)
    print(f"{name} on {_where(options)}: hold a card to the reader ({timeout_s:g} s)...",
          file=out, flush=True)
    tokens = aiter(reader.tokens())
    try:
        async with asyncio.timeout(timeout_s):
            token = await anext(tokens)
    except TimeoutError as err:
        raise ProbeError(f"no card seen within {timeout_s:g} s (the reader opened: check the antenna and "
                         "the card type)") from err
    except HalError as err:
        raise ProbeError(diagnose(err, f"{name} reader", options)) from err
    finally:
        close = getattr(tokens, "aclose", None)
        if close is not None:
            await close()
        await _closing(reader)
    print(f"card UID: {token}", file=out)
    return EXIT_OK


async def probe_pilot(options: Mapping[str, object], watch_s: float, out: TextIO = sys.stdout) -> int:
    """Print the pilot state, then every change for ``watch_s`` seconds."""
    name = str(options.get("driver", ""))
    pilot = create("pilot", name, options)
    assert isinstance(pilot, Pilot)
    updates = aiter(pilot.status_updates())
    try:
        async with asyncio.timeout(5.0):
            status = await anext(updates)
        print(f"{name} on {_where(options)}: {_pilot_line(status)}", file=out, flush=True)
        try:
            async with asyncio.timeout(watch_s):
                async for status in updates:
                    print(_pilot_line(status), file=out, flush=True)
        except TimeoutError:
            pass
    except TimeoutError as err:
        raise ProbeError(f"the {name} controller on {_where(options)} reported no state within 5 s") from err
    except HalError as err:
        raise ProbeError(diagnose(err, f"{name} controller", options)) from err
    finally:
        close = getattr(updates, "aclose", None)
        if close is not None:
            await close()
        await _closing(pilot)
    return EXIT_OK


def _pilot_line(status: PilotStatus) -> str:
    return f"pilot {status.state.value}" + (f" fault {status.fault.value}" if status.fault else "")


async def probe_contactor(options: Mapping[str, object], closed: bool | None, confirm: Callable[[str], bool],
                          hold: Callable[[], Awaitable[None]], out: TextIO = sys.stdout) -> int:
    """Show the contactor state; with ``closed`` switch it after the installer confirmed.

    A contactor closed by a probe stays closed only while ``hold`` runs (until the installer presses
    Enter): the probe never leaves an outlet energised behind it, so on exit the contactor opens.
    """
    name = str(options.get("driver", ""))
    contactor = create("contactor", name, options)
    assert isinstance(contactor, Contactor)
    try:
        state = await contactor.is_closed()
        feedback = "mirror contact" if contactor.has_feedback else "last command"
        where = _where(options)
        print(f"{name} contactor on {where}: {'closed' if state else 'open'} ({feedback})", file=out)
        if closed is not None:
            verb = "CLOSE (energise the outlet)" if closed else "OPEN"
            if not confirm(f"{verb} the contactor now? [y/N] "):
                print("nothing switched", file=out)
                return EXIT_OK
            await contactor.set_closed(closed)
            state = await contactor.is_closed()
            print(f"contactor now {'closed' if state else 'open'}", file=out, flush=True)
            if state:
                await hold()
    except HalError as err:
        raise ProbeError(diagnose(err, f"{name} contactor", options)) from err
    finally:
        await _closing(contactor)  # opens it
    return EXIT_OK
