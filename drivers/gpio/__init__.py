"""GPIO drivers: a contactor with mirror-contact feedback, and a GPIO/PWM control-pilot board."""
