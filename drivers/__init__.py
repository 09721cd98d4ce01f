"""Real device drivers (serial, Modbus, GPIO); the only package that imports pyserial or pymodbus."""
