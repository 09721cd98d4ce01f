"""The simulated HAL: devices around a simulated EV, driven by testers through ``SimStation.command``."""

from hal.sim.devices import SimEvse, SimReader, SimStation, build_sim_station

__all__ = ["SimEvse", "SimReader", "SimStation", "build_sim_station"]
