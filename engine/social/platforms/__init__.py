"""One subpackage per platform, each implementing engine.social.connector.PlatformConnector."""
