"""A certificate authority of the stack's own, and the TLS certificate Trino serves with.

Clients trust the authority's certificate (`LAKEHOUSE_TRINO_CA_FILE`), not the system's store.
Both are made once and kept; the server's is made again when it lacks a host name it must
answer to (a new `LAKEHOUSE_TRINO_HOST`).
"""

import datetime
import ipaddress
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from lakehouse.security.files import write_replacing

KEY_BITS = 2048
CA_DAYS = 3650
SERVER_DAYS = 825  # the longest validity clients such as macOS accept for a server certificate


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _subject_alternative_name(hosts: Iterable[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in sorted(set(hosts)):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _valid_from() -> datetime.datetime:
    # A minute back: a client whose clock is a little behind still accepts a certificate made now.
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)


def ensure_authority(ca_file: Path, ca_key_file: Path) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The authority's certificate and key, made on first use."""
    if ca_file.exists() and ca_key_file.exists():
        certificate = x509.load_pem_x509_certificate(ca_file.read_bytes())
        key = serialization.load_pem_private_key(ca_key_file.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return certificate, key
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lakehouse stack CA")])
    start = _valid_from()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    write_replacing(ca_key_file, _key_pem(key), 0o600)
    write_replacing(ca_file, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return certificate, key


def _names_in(server_pem: Path) -> set[str]:
    certificate = x509.load_pem_x509_certificate(server_pem.read_bytes())
    alternative_names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(value) for value in alternative_names.get_values_for_type(x509.DNSName)} | {
        str(value) for value in alternative_names.get_values_for_type(x509.IPAddress)
    }


def ensure_server_certificate(server_pem: Path, ca_file: Path, ca_key_file: Path, hosts: Iterable[str]) -> None:
    """``server_pem``: the server's key, its certificate for ``hosts`` and the authority's, in the one
    PEM file Trino's `http-server.https.keystore.path` takes."""
    wanted = set(hosts)
    if server_pem.exists() and wanted <= _names_in(server_pem):
        return
    authority, authority_key = ensure_authority(ca_file, ca_key_file)
    key = _new_key()
    start = _valid_from()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sorted(wanted)[0])]))
        .issuer_name(authority.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(_subject_alternative_name(wanted), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(authority_key, hashes.SHA256())
    )
    chain = certificate.public_bytes(serialization.Encoding.PEM) + authority.public_bytes(serialization.Encoding.PEM)
    # Readable by the Trino container's own user, which is not the one that wrote it.
    write_replacing(server_pem, _key_pem(key) + chain, 0o644)
