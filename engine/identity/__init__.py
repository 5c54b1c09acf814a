"""People who sign in: users of an account, passwords, tokens, sessions, mail and Google sign-in.

`Identity` (service.py) is what the rest of the engine and the HTTP API use; the other modules are its
parts, one concept each. Nothing here knows HTTP: errors are `IdentityError`s that a surface translates.
"""
