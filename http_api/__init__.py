"""The Starlette HTTP facade in front of the engine."""
