"""The asyncio shell: transport, persistence, configuration, CLI and the runner that owns the core."""
