"""EVSE-controller (control pilot) drivers: OpenEVSE over RAPI."""
