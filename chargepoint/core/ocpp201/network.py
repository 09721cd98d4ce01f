"""OCPP 2.0.1 network connection profiles (B09, B10): which CSMS to connect to, and with what settings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chargepoint.core.actions import Action, ConfigureConnection, Log

if TYPE_CHECKING:
    from chargepoint.core.ocpp201.station import Station201


def priority(st: Station201) -> tuple[str, ...]:
    return st.settings.csl("OCPPCommCtrlr.NetworkConfigurationPriority") or ("1",)


def slot(st: Station201) -> str:
    """The configurationSlot of the network profile in use."""
    slots = priority(st)
    return slots[st.slot_index % len(slots)]


def endpoint_for(st: Station201, slot: str) -> tuple[str, int]:
    """The URL and security profile of a slot; slot 1 without a profile is the installer's config."""
    profile = st.network_profiles.get(slot)
    if profile is None:
        return ("", 0)
    url, security = profile.get("ocppCsmsUrl"), profile.get("securityProfile")
    return (str(url), security if isinstance(security, int) else 0)


def next_profile_if_failing(st: Station201) -> list[Action]:
    """B10.FR.01: after NetworkProfileConnectionAttempts failed attempts, the next profile in
    NetworkConfigurationPriority (wrapping round to the first)."""
    st.connect_failures += 1
    slots = priority(st)
    attempts = st.settings.int("OCPPCommCtrlr.NetworkProfileConnectionAttempts")
    if len(slots) < 2 or st.connect_failures < attempts:
        return []
    st.connect_failures = 0
    st.slot_index = (st.slot_index + 1) % len(slots)
    return [Log(logging.WARNING, f"CSMS unreachable: trying network profile {slot(st)}"),
            connection_settings(st)]


def connection_settings(st: Station201) -> ConfigureConnection:
    """WebSocketPingInterval and a BasicAuthPassword the CSMS set (A01: replaces the installer's)."""
    key = st.settings.str("AuthorizationKey")
    backoff = (float(st.settings.int("OCPPCommCtrlr.RetryBackOffWaitMinimum")),
               float(st.settings.int("OCPPCommCtrlr.RetryBackOffRandomRange")),
               st.settings.int("OCPPCommCtrlr.RetryBackOffRepeatTimes"))
    return ConfigureConnection(float(st.settings.int("WebSocketPingInterval")), key or None, backoff,
                               endpoint_for(st, slot(st)))


def restore(st: Station201, rows: list[tuple[str, object]]) -> None:
    """The network profiles B09 SetNetworkProfile stored, by configurationSlot."""
    for key, value in rows:
        if isinstance(value, dict):
            st.network_profiles[key] = value
