"""Measurands: turning a meter sample into the values the CSMS asked for, version-neutral.

OCPP 1.6 §7.31 Measurand / §7.45 SampledValue; OCPP 2.0.1 MeasurandEnumType / SampledValueType. Per-phase
quantities are reported per phase (L1, L2, L3 for currents; L1-N... for voltages), totals without a phase.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.types import MeterSample

PHASES = ("L1", "L2", "L3")
VOLTAGE_PHASES = ("L1-N", "L2-N", "L3-N")


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one measurand, with its unit and phase (``None`` for totals)."""

    measurand: str
    value: float
    unit: str | None
    phase: str | None = None


def readings(
    sample: MeterSample, measurands: tuple[str, ...], offered_a: float = 0.0
) -> list[Reading]:
    """The readings for ``measurands`` that ``sample`` can provide, in the order asked."""
    out: list[Reading] = []
    for name in measurands:
        out += _one(sample, name, offered_a)
    return out


def _one(sample: MeterSample, name: str, offered_a: float) -> list[Reading]:
    if name == "Energy.Active.Import.Register":
        return [Reading(name, round(sample.energy_wh, 1), "Wh")]
    if name == "Energy.Active.Export.Register" and sample.energy_export_wh is not None:
        return [Reading(name, round(sample.energy_export_wh, 1), "Wh")]
    if name == "Power.Active.Import" and sample.power_w is not None:
        return [Reading(name, round(max(sample.power_w, 0.0), 1), "W")]
    if name == "Current.Import" and sample.current_a is not None:
        return [Reading(name, round(v, 2), "A", p) for v, p in zip(sample.current_a, PHASES, strict=False)]
    if name == "Voltage" and sample.voltage_v is not None:
        return [
            Reading(name, round(v, 1), "V", p)
            for v, p in zip(sample.voltage_v, VOLTAGE_PHASES, strict=False)
        ]
    if name == "Frequency" and sample.frequency_hz is not None:
        return [Reading(name, round(sample.frequency_hz, 2), None)]
    if name == "Power.Factor" and sample.power_factor is not None:
        return [Reading(name, round(sample.power_factor, 3), None)]
    if name == "SoC" and sample.soc_percent is not None:
        return [Reading(name, round(sample.soc_percent, 1), "Percent")]
    if name == "Current.Offered":
        return [Reading(name, round(offered_a, 1), "A")]
    return []
