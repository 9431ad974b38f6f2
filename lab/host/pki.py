"""Certificates for the local lab: one CA, the API server's serving cert, and client certs.

Each component authenticates as its upstream identity (kubeadm's names), so the cluster's
bootstrap RBAC applies to it exactly as on a kubeadm cluster.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.host.secretfile import write_secret

VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> None:
    write_secret(path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


class Pki:
    """Creates (once) and finds the lab's key material under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    @property
    def ca(self) -> CertPair:
        return CertPair(self.dir / "ca.crt", self.dir / "ca.key")

    @property
    def service_account_key(self) -> Path:
        return self.dir / "sa.key"

    def pair(self, name: str) -> CertPair:
        return CertPair(self.dir / f"{name}.crt", self.dir / f"{name}.key")

    def ensure(self, clients: dict[str, tuple[str, str | None]], serving_ips: list[str]) -> None:
        """Create the CA, SA key, API serving cert and the given client certs if absent.

        ``clients`` maps a file stem to (common name, organization).
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.ca.cert.exists():
            self._make_ca()
        if not self.service_account_key.exists():
            _write_key(_key(), self.service_account_key)
        ca_key = serialization.load_pem_private_key(self.ca.key.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(self.ca.cert.read_bytes())
        if not self.pair("apiserver").cert.exists():
            sans: list[x509.GeneralName] = [x509.DNSName(d) for d in (
                "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local")]
            sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in serving_ips]
            self._sign("apiserver", _name("kube-apiserver"), ca_cert, ca_key, server=True, sans=sans)
        for stem, (cn, org) in clients.items():
            if not self.pair(stem).cert.exists():
                self._sign(stem, _name(cn, org), ca_cert, ca_key, server=False)

    def ensure_serving(self, stem: str, cn: str, ips: list[str]) -> CertPair:
        """A serving certificate for ``ips``, signed by the lab's CA (created once), e.g. for the
        e2e fault proxy, which answers in the API server's place: clients that trust the lab's CA
        accept it for the same address."""
        pair = self.pair(stem)
        if not pair.cert.exists():
            ca_key = serialization.load_pem_private_key(self.ca.key.read_bytes(), password=None)
            ca_cert = x509.load_pem_x509_certificate(self.ca.cert.read_bytes())
            sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
            self._sign(stem, _name(cn), ca_cert, ca_key, server=True, sans=sans)
        return pair

    def ensure_front_proxy(self) -> None:
        """The aggregation layer's request-header CA and client (kubeadm's front-proxy pair).

        Without it every component that delegates authentication logs, every few seconds, that
        the requestheader-client-ca-file bundle is missing.
        """
        ca = self.pair("front-proxy-ca")
        if not ca.cert.exists():
            self._make_ca(ca, "front-proxy-ca")
        if not self.pair("front-proxy-client").cert.exists():
            ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
            ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
            self._sign("front-proxy-client", _name("front-proxy-client"), ca_cert, ca_key, server=False)

    def _make_ca(self, pair: CertPair | None = None, cn: str = "scheduler-lab-ca") -> None:
        pair = pair or self.ca
        key = _key()
        now = dt.datetime.now(dt.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(_name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY * 10)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_key(key, pair.key)
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def _sign(self, stem: str, subject: x509.Name, ca_cert: x509.Certificate, ca_key, *, server: bool,
              sans: list[x509.GeneralName] | None = None) -> None:
        key = _key()
        now = dt.datetime.now(dt.timezone.utc)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        pair = self.pair(stem)
        _write_key(key, pair.key)
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
