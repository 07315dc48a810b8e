"""Bridges between ``cryptography`` objects and the ones pyhanko signs with.

The CA and the key store speak ``cryptography`` (:mod:`signing_service.ca`);
pyhanko speaks asn1crypto. The conversion goes through DER and lives here so
that neither side has to know about the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.signers import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing_service.ca import SigningKey

__all__ = ["AnyCertificate", "as_asn1_certificate", "as_x509", "software_signer"]

AnyCertificate: TypeAlias = x509.Certificate | asn1_x509.Certificate


def as_asn1_certificate(cert: AnyCertificate) -> asn1_x509.Certificate:
    """The certificate as asn1crypto sees it (pyhanko's type)."""
    if isinstance(cert, asn1_x509.Certificate):
        return cert
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def as_x509(cert: AnyCertificate) -> x509.Certificate:
    """The certificate as ``cryptography`` sees it."""
    if isinstance(cert, x509.Certificate):
        return cert
    return x509.load_der_x509_certificate(cert.dump())


def software_signer(
    key: SigningKey, certificate: AnyCertificate, chain: Iterable[AnyCertificate] = ()
) -> SimpleSigner:
    """A pyhanko signer for a key held in memory: a cloud certificate's key
    after :func:`~signing_service.ca.decrypt_private_key`.

    ``chain`` is embedded in the signature (the root too, for validators that
    will not build a path without it).
    """
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SimpleSigner(
        signing_cert=as_asn1_certificate(certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(der),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [as_asn1_certificate(c) for c in chain]
        ),
    )
