"""SMPP 3.4: a sans-IO codec and session state machine, and a thin asyncio transport for both roles."""
