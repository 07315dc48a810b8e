"""The agent beside a user's hardware token (PyKCS11).

Built by the signing issue; this package has no code yet.
"""
