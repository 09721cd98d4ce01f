"""OCPP-J framing, schema validation, outgoing-call bookkeeping and the durable outbox."""
