"""Sign test media with C2PA Content Credentials, offline, with a certificate chain made here
(a root CA and an end-entity signer: the C2PA reader refuses a self-signed signer)."""

from __future__ import annotations

import datetime
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SIGNER = "fakescope test signer"
ISSUER = "fakescope test org"
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, ISSUER)])


def _usage(**on: bool) -> x509.KeyUsage:
    keys = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{k: on.get(k, False) for k in keys})


def make_signer() -> c2pa.Signer:
    """An ES256 signer whose certificate chains to a root CA made now (trusted by nobody)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def cert(subject, issuer, public, signing_key, ca: bool):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
             .public_key(public).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(_usage(key_cert_sign=True, crl_sign=True) if ca
                            else _usage(digital_signature=True), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
        if not ca:
            b = (b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                                 critical=False)
                  .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                      ca_key.public_key()), critical=False))
        return b.sign(signing_key, hashes.SHA256())

    root = cert(_name("fakescope test root"), _name("fakescope test root"), ca_key.public_key(),
                ca_key, ca=True)
    leaf = cert(_name(SIGNER), root.subject, key.public_key(), ca_key, ca=False)
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + root.public_bytes(pem)
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private,
                                                     None))


def sign(source: Path, dest: Path, source_type: str = "trainedAlgorithmicMedia",
         agent: str = "Imaginary Diffusion 3") -> Path:
    """`source` with a manifest claiming it was created (by `agent`, as `source_type`)."""
    manifest = {
        "claim_generator_info": [{"name": "fakescope-tests", "version": "1"}],
        "title": dest.name,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [{
            "action": "c2pa.created", "digitalSourceType": IPTC + source_type,
            "softwareAgent": {"name": agent}}]}}],
    }
    with c2pa.Builder(manifest) as builder:
        builder.sign_file(source, dest, make_signer())
    return dest


def flip_byte(path: Path, dest: Path, from_end: int = 200) -> Path:
    """A copy with one byte of the content changed (near the end: pixels, not the manifest)."""
    data = bytearray(path.read_bytes())
    data[-from_end] ^= 0xFF
    dest.write_bytes(data)
    return dest
