"""The operator dashboard: staff log in (operators table), and watch the engine live (server-sent events)."""
