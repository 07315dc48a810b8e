"""The agent beside a user's hardware token (PyKCS11).

:mod:`device_bridge.token` wraps the token's PKCS#11 module;
:mod:`device_bridge.agent` serves it over HTTP on 127.0.0.1 to the platform's
web pages (``python -m device_bridge``). The package stands alone: it imports
nothing else of the platform.
"""
