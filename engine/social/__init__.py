"""Social platforms: connected accounts and the connectors the dispatch loop calls for social jobs.

    actions.py        the actions (Action), their parameter Structs and typed results
    connector.py      PlatformConnector (one method per action), AccountSession, TokenSource, RateRule
    errors.py         RateLimited / Transient / AuthExpired > NeedsReauth / Permanent(code)
    cursors.py        cursors that hand out inbound items exactly once across calls and restarts
    platform_http.py  the httpx layer every connector sits on (auth refresh, classification)
    accounts/         sealed storage of accounts, tokens and BYOK apps; sessions that refresh tokens
    platforms/x/      X API v2 connector, OAuth 2.0 code + PKCE, rate windows
    platforms/bluesky Bluesky XRPC connector, session auth, rate windows
    text/             exact text limits: X's weighted length (twitter-text v3), Bluesky's graphemes
    simulation/       X and Bluesky simulators for tests and the demo (never the production path)

Nothing here knows HTTP surfaces (http_api) or the job queue; they build on these.
"""
