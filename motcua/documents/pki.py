"""Who signs: one key + certificate per unit.

* `LocalPki` (development, the default): a local CA "motcua Development CA" and one ECDSA P-256 key and
  certificate per unit, created on first use under `MOTCUA_PKI_DIR` (default `var/pki/`), keys mode 0600.
  A unit's certificate is reissued when its name or agency code changed or it is about to expire; the old
  files are kept (documents signed with them still verify: they chain to the same CA).
* `Pkcs11KeyStore` (production): keys and certificates on a PKCS#11 token (HSM, SoftHSM), one key and one
  certificate per unit, found by label. Needs the `python-pkcs11` package (not a default dependency).

Both cache what they load: a signer is built once per unit and process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.sign.signers import Signer, SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from motcua.documents.settings import DocumentSettings, Pkcs11Settings
from motcua.domain.clock import require_aware
from motcua.domain.errors import InvalidInput

CA_NAME = "motcua Development CA"
CA_LIFETIME = timedelta(days=20 * 365)
UNIT_LIFETIME = timedelta(days=3 * 365)
RENEW_BEFORE = timedelta(days=30)
# Development certificates start before their creation so that documents dated by a test or demo clock
# slightly in the past still fall inside them.
CA_BACKDATE = timedelta(days=366)
UNIT_BACKDATE = timedelta(days=30)


@dataclass(frozen=True)
class UnitIdentity:
    """The unit a document is signed for, as the registry names it on the signing day."""

    id: str
    name: str
    agency_code: str


@dataclass(frozen=True)
class UnitSigner:
    unit_id: str
    signer: Signer
    certificate: asn1_x509.Certificate

    @property
    def fingerprint(self) -> str:
        return cert_fingerprint(self.certificate)

    @property
    def subject(self) -> str:
        return str(self.certificate.subject.human_friendly)


class KeyStore(Protocol):
    def signer_for(self, unit: UnitIdentity, *, now: datetime) -> UnitSigner: ...
    def trust_roots(self) -> list[asn1_x509.Certificate]: ...


def cert_fingerprint(certificate: asn1_x509.Certificate) -> str:
    """SHA-256 of the certificate's DER encoding, lowercase hex."""
    return hashlib.sha256(certificate.dump()).hexdigest()


def to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def load_pem_certificates(path: Path) -> list[asn1_x509.Certificate]:
    """Every certificate in a PEM file (a bundle of roots)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            "documents.trust_roots_unreadable", f"Không đọc được tệp chứng thư gốc {path}.", path=str(path)
        ) from exc
    return [to_asn1(cert) for cert in x509.load_pem_x509_certificates(data)]


# ---------------------------------------------------------------- development CA on disk


def _unit_subject(unit: UnitIdentity) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, unit.name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit.agency_code),
            x509.NameAttribute(NameOID.USER_ID, unit.id),
            x509.NameAttribute(NameOID.COMMON_NAME, unit.name),
        ]
    )


def _write_private(path: Path, data: bytes, mode: int) -> None:
    """Write atomically with `mode` from the start (a key is never readable by others, even briefly)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InvalidInput("documents.bad_key", f"Khoá {path} không phải khoá ECDSA.", path=str(path))
    return key


def _key_info(key: ec.EllipticCurvePrivateKey) -> asn1_keys.PrivateKeyInfo:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return asn1_keys.PrivateKeyInfo.load(der)


class LocalPki:
    """The development CA and unit keys under one directory (safe across threads and processes)."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self._lock = threading.RLock()
        self._signers: dict[str, tuple[UnitSigner, UnitIdentity]] = {}
        self._ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None = None

    @property
    def ca_cert_path(self) -> Path:
        return self.directory / "ca" / "ca.cert.pem"

    @property
    def ca_key_path(self) -> Path:
        return self.directory / "ca" / "ca.key.pem"

    def unit_paths(self, unit_id: str) -> tuple[Path, Path]:
        base = self.directory / "units"
        return base / f"{unit_id}.key.pem", base / f"{unit_id}.cert.pem"

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Thread lock + an flock on `.lock`, so two workers never create two CAs."""
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(self.directory / ".lock", "a+b") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    # -- the CA

    def ca(self, *, now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """The CA key and certificate, created on first use."""
        if self._ca is not None:
            return self._ca
        with self._exclusive():
            if not self.ca_cert_path.exists():
                self._create_ca(require_aware(now))
            key = _load_key(self.ca_key_path)
            cert = x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())
            self._ca = (key, cert)
            return self._ca

    def _create_ca(self, now: datetime) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "motcua"),
                x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
            ]
        )
        public = key.public_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CA_BACKDATE)
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )
        self.ca_cert_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(self.ca_key_path, _key_pem(key), 0o600)
        _write_private(self.ca_cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def trust_roots(self) -> list[asn1_x509.Certificate]:
        """The CA certificate if it exists (verification never creates a CA)."""
        if self._ca is not None:
            return [to_asn1(self._ca[1])]
        if not self.ca_cert_path.exists():
            return []
        return [to_asn1(x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes()))]

    # -- unit keys

    def signer_for(self, unit: UnitIdentity, *, now: datetime) -> UnitSigner:
        now = require_aware(now)
        cached = self._signers.get(unit.id)
        if cached is not None and cached[1] == unit and _usable(cached[0].certificate, now):
            return cached[0]
        ca_key, ca_cert = self.ca(now=now)
        with self._exclusive():
            key_path, cert_path = self.unit_paths(unit.id)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes()) if cert_path.exists() else None
            if cert is None or not _current(cert, unit, now):
                self._issue_unit(unit, now, ca_key, ca_cert, old=cert)
                cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = _load_key(key_path)
        certificate = to_asn1(cert)
        chain = SimpleCertificateStore()  # type: ignore[no-untyped-call]
        chain.register(to_asn1(ca_cert))
        signer = SimpleSigner(signing_cert=certificate, signing_key=_key_info(key), cert_registry=chain)
        result = UnitSigner(unit.id, signer, certificate)
        with self._lock:
            self._signers[unit.id] = (result, unit)
        return result

    def _issue_unit(
        self,
        unit: UnitIdentity,
        now: datetime,
        ca_key: ec.EllipticCurvePrivateKey,
        ca_cert: x509.Certificate,
        old: x509.Certificate | None,
    ) -> None:
        key_path, cert_path = self.unit_paths(unit.id)
        cert_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if old is not None:  # keep the history: documents signed with it still verify
            serial = f"{old.serial_number:x}"
            os.replace(cert_path, cert_path.with_name(f"{unit.id}.{serial}.cert.pem"))
            if key_path.exists():
                os.replace(key_path, key_path.with_name(f"{unit.id}.{serial}.key.pem"))
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key()
        not_before = max(now - UNIT_BACKDATE, ca_cert.not_valid_before_utc)
        not_after = min(now + UNIT_LIFETIME, ca_cert.not_valid_after_utc)
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(_unit_subject(unit))
            .issuer_name(ca_cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(key_path, _key_pem(key), 0o600)
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=not cert_sign,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _current(cert: x509.Certificate, unit: UnitIdentity, now: datetime) -> bool:
    """The stored certificate still names the unit as it is now and is valid well past `now`."""
    return (
        cert.subject == _unit_subject(unit)
        and cert.not_valid_before_utc <= now
        and now + RENEW_BEFORE < cert.not_valid_after_utc
    )


def _usable(certificate: asn1_x509.Certificate, now: datetime) -> bool:
    validity = certificate["tbs_certificate"]["validity"]
    not_before: datetime = validity["not_before"].native
    not_after: datetime = validity["not_after"].native
    return not_before <= now and now + RENEW_BEFORE < not_after


# ---------------------------------------------------------------- PKCS#11 (production)


class Pkcs11KeyStore:
    """Unit keys on a PKCS#11 token. The key and certificate of a unit are found by label (by default the
    unit id; `MOTCUA_PKCS11_KEY_LABEL` / `MOTCUA_PKCS11_CERT_LABEL` may use {unit_id} and {agency_code})."""

    def __init__(self, settings: Pkcs11Settings, roots: list[asn1_x509.Certificate]) -> None:
        self.settings = settings
        self._roots = roots
        self._lock = threading.Lock()
        self._session: Any = None
        self._signers: dict[str, UnitSigner] = {}

    def _open(self) -> Any:
        try:
            from pyhanko.config.pkcs11 import TokenCriteria
            from pyhanko.sign.pkcs11 import open_pkcs11_session
        except ImportError as exc:
            raise InvalidInput(
                "documents.pkcs11_unavailable",
                "Ký bằng PKCS#11 cần gói python-pkcs11 (pip install python-pkcs11).",
            ) from exc
        if self._session is None:
            self._session = open_pkcs11_session(
                self.settings.module,
                token_criteria=TokenCriteria(label=self.settings.token_label),
                user_pin=self.settings.pin,
            )
        return self._session

    def signer_for(self, unit: UnitIdentity, *, now: datetime) -> UnitSigner:
        with self._lock:
            cached = self._signers.get(unit.id)
            if cached is not None:
                return cached
            from pyhanko.sign.pkcs11 import PKCS11Signer

            labels = {"unit_id": unit.id, "agency_code": unit.agency_code}
            signer = PKCS11Signer(
                self._open(),
                cert_label=self.settings.label_for(self.settings.cert_label, **labels),
                key_label=self.settings.label_for(self.settings.key_label, **labels),
                ca_chain=self._roots,
                other_certs_to_pull=None,
                # hash in software, sign the digest on the token (CKM_ECDSA): SoftHSM and many HSMs have no
                # combined CKM_ECDSA_SHA256
                use_raw_mechanism=True,
            )
            certificate = signer.signing_cert
            assert certificate is not None
            result = UnitSigner(unit.id, signer, certificate)
            self._signers[unit.id] = result
            return result

    def trust_roots(self) -> list[asn1_x509.Certificate]:
        return list(self._roots)


# ---------------------------------------------------------------- the configured key store


def keystore(settings: DocumentSettings) -> KeyStore:
    """The key store the settings name, one per configuration and process (keys stay loaded)."""
    return _keystore(settings)


@lru_cache(maxsize=8)
def _keystore(settings: DocumentSettings) -> KeyStore:
    if settings.backend == "pkcs11":
        assert settings.pkcs11 is not None
        roots = load_pem_certificates(settings.trust_roots_file) if settings.trust_roots_file else []
        return Pkcs11KeyStore(settings.pkcs11, roots)
    return LocalPki(settings.pki_dir.resolve())


def trust_roots(settings: DocumentSettings) -> list[asn1_x509.Certificate]:
    """Roots a valid signature (or timestamp) must chain to: the key store's CA and the configured extras."""
    roots = keystore(settings).trust_roots()
    if settings.trust_roots_file and settings.backend != "pkcs11":
        roots += load_pem_certificates(settings.trust_roots_file)
    return roots
