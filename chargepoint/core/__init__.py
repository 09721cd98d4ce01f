"""The pure, I/O-free core: events and the current time in, actions and the next deadline out."""
