"""Modbus RTU / Modbus TCP drivers: energy meters described by data files, and relay modules.

Layout: ``model.py`` (register maps as data, decoding; no pymodbus), ``bus.py`` (the one owner of each
RS-485 line or TCP endpoint; the only module that imports pymodbus), ``meter.py`` (``hal.meter.Meter``),
``relay.py`` (``hal.contactor.Contactor``), ``models/*.toml`` (the built-in meter models).

This package imports nothing on purpose, so the driver registry can list the models without pymodbus.
"""
