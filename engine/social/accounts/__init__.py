"""Connected platform accounts: sealed storage (store, sealing) and sessions with refreshing tokens."""
