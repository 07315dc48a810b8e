"""PDF sealing and verification (pyhanko, pikepdf) and the platform CA.

The package stands alone: it knows PDFs, images, keys and certificates, and
nothing of enterprises' aggregates, commands or projections. Its surface:

* :mod:`~signing_service.ca`: :class:`CertificateAuthority` (``create``,
  ``load``, ``issue``, ``revoke``, ``crl``, ``root``), :func:`generate_key`,
  :func:`encrypt_private_key` / :func:`decrypt_private_key` for cloud
  certificates' keys at rest;
* :mod:`~signing_service.sealing`: :class:`Sealer` (``seal``,
  ``seal_cross_page``, ``prepare_external``), :func:`complete_external`,
  :class:`Placement`, :func:`find_keyword`, :func:`image_to_pdf`;
* :mod:`~signing_service.signers`: :func:`software_signer` for a key held in
  memory;
* :mod:`~signing_service.verify`: :func:`verify` giving a
  :class:`VerificationReport`.

Inside: :mod:`~signing_service.documents` (input PDFs and images),
:mod:`~signing_service.layout` (placements, overlap),
:mod:`~signing_service.appearance` (the seal image, prepared once),
:mod:`~signing_service.pades` (one signature, several widgets),
:mod:`~signing_service.external` (token signing in two steps),
:mod:`~signing_service.keyword` (PDFium text search). Failures are
:class:`~signing_service.errors.SealError` or
:class:`~signing_service.errors.CaError`, each with a stable ``code`` and an
HTTP-ish ``status``.
"""
