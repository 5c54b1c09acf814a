"""X (formerly Twitter) over the X API v2: connector, OAuth 2.0 with PKCE, published rate windows."""
