"""Electronic seals on the joint review result (联审结果电子签章).

- :mod:`signing.pki`: development PKI, PKCS#12 identities and pyHanko signers from them.
- :mod:`signing.token`: signers whose key stays on a PKCS#11 token.
- :mod:`signing.tsa`: a loopback RFC 3161 timestamp authority and CRL publisher for tests and demos.
- :mod:`signing.seal`: the red round seal image, and checks of uploaded seal images.
- :mod:`signing.sign`: signature fields first, then certify, approve, lock (PAdES B-LTA).
- :mod:`signing.verify`: the verdict on a sealed PDF, from pyHanko's validation and difference analysis.

Everything here takes and returns bytes; nothing reads settings or touches storage.
"""
