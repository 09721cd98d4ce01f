"""The OCPP 1.6J adapter: translates between the domain and OCPP 1.6 messages."""
