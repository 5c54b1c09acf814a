"""Platform text limits, counted exactly: X's weighted length (twitter-text v3), Bluesky's graphemes."""
