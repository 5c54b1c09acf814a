"""Xquik's account monitors, their events log, its webhooks, trends and radar (seed 002)."""
