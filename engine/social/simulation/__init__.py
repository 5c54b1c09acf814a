"""Platform simulators (X API v2, Bluesky XRPC) for the tests and the demo: never the production path."""
