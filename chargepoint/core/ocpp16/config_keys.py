"""OCPP 1.6 GetConfiguration (§5.8) over the settings, whose table (the §9 keys) is the domain's."""

from __future__ import annotations

from collections.abc import Sequence

from chargepoint.core.domain.setting_specs import MEASURANDS, SPECS, station_overrides
from chargepoint.core.domain.settings import Settings

__all__ = ["MEASURANDS", "SPECS", "get_configuration", "station_overrides"]


def get_configuration(
    settings: Settings, keys: Sequence[str] | None
) -> tuple[list[dict[str, object]], list[str]]:
    """OCPP 1.6 §5.8: all keys when none are asked for; unknown ones listed in unknownKey; secret keys are
    never reported (the security whitepaper makes AuthorizationKey write-only)."""
    wanted = list(keys) if keys else [n for n in settings.names()]
    known: list[dict[str, object]] = []
    unknown: list[str] = []
    for name in wanted[: settings.int("GetConfigurationMaxKeys")] if keys else wanted:
        spec = settings.spec(name)
        if spec is None:
            unknown.append(name)
        elif not spec.secret:
            known.append({"key": name, "readonly": spec.readonly, "value": settings.to_wire(name)})
    return known, unknown
