"""The version-neutral charging domain: station, EVSEs, sessions, authorisation, settings."""
