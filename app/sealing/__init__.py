"""Electronic seals in the platform (电子签章): identities, seal images, the result and its signatures.

- :mod:`app.sealing.vault`: PKCS#12 bundles encrypted at rest with the key from settings.
- :mod:`app.sealing.trust`: the configured trust roots and the chain check of imported certificates.
- :mod:`app.sealing.identities`: each organisation's signing identity (PKCS#12 or PKCS#11 token).
- :mod:`app.sealing.seals`: each organisation's seal image (uploaded PNG or the generated red round seal).
- :mod:`app.sealing.compose`: the result PDF composed once every track has passed (a worker job).
- :mod:`app.sealing.signing`: departments sealing the result in turn, one incremental update each.
- :mod:`app.sealing.devpki`: the development PKI behind ``liantu pki init`` and the demo.

The cryptography itself lives in :mod:`signing`; this package stores, loads and checks around it.
"""
