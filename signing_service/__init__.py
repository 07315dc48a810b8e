"""PDF sealing and verification (pyhanko, pikepdf) and certificates.

Built by the signing issue; this package has no code yet.
"""
