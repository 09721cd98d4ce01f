"""Charge-point firmware-side OCPP stack: a pure core, an asyncio shell and a typed HAL."""

__version__ = "0.1.0"
