"""The OCPP 2.0.1 adapter: translates between the domain and OCPP 2.0.1 messages (device model first)."""
