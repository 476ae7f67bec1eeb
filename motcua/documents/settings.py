"""Configuration of documents and signatures, read from the environment (documented in decision 0004)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from motcua.domain.errors import InvalidInput

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_PKI_DIR = "var/pki"


@dataclass(frozen=True)
class Pkcs11Settings:
    """A PKCS#11 token holding one key + certificate per unit, labelled from the unit (see `label_for`)."""

    module: str
    token_label: str
    pin: str
    key_label: str = "{unit_id}"  # a format string over unit_id and agency_code
    cert_label: str = "{unit_id}"

    def label_for(self, template: str, *, unit_id: str, agency_code: str) -> str:
        return template.format(unit_id=unit_id, agency_code=agency_code)


@dataclass(frozen=True)
class DocumentSettings:
    public_url: str = DEFAULT_PUBLIC_URL
    pki_dir: Path = Path(DEFAULT_PKI_DIR)
    tsa_url: str | None = None
    backend: str = "local"  # "local": development CA under pki_dir; "pkcs11": a hardware token
    trust_roots_file: Path | None = None  # extra trusted roots (PEM): the production CA, the TSA's root
    pkcs11: Pkcs11Settings | None = None

    def verification_url(self, document_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/xac-minh/{document_id}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DocumentSettings:
        env = os.environ if env is None else env
        backend = env.get("MOTCUA_SIGNING_BACKEND", "local").strip() or "local"
        if backend not in ("local", "pkcs11"):
            raise InvalidInput(
                "documents.bad_backend",
                "MOTCUA_SIGNING_BACKEND phải là «local» hoặc «pkcs11».",
                backend=backend,
            )
        roots = env.get("MOTCUA_TRUST_ROOTS", "").strip()
        return cls(
            public_url=env.get("MOTCUA_PUBLIC_URL", "").strip() or DEFAULT_PUBLIC_URL,
            pki_dir=Path(env.get("MOTCUA_PKI_DIR", "").strip() or DEFAULT_PKI_DIR),
            tsa_url=env.get("MOTCUA_TSA_URL", "").strip() or None,
            backend=backend,
            trust_roots_file=Path(roots) if roots else None,
            pkcs11=_pkcs11_from_env(env) if backend == "pkcs11" else None,
        )


def _pkcs11_from_env(env: Mapping[str, str]) -> Pkcs11Settings:
    module = env.get("MOTCUA_PKCS11_MODULE", "").strip()
    token = env.get("MOTCUA_PKCS11_TOKEN_LABEL", "").strip()
    pin = env.get("MOTCUA_PKCS11_PIN", "")
    pin_file = env.get("MOTCUA_PKCS11_PIN_FILE", "").strip()
    if pin_file:
        pin = Path(pin_file).read_text(encoding="utf-8").strip()
    if not (module and token and pin):
        raise InvalidInput(
            "documents.pkcs11_config",
            "Cấu hình PKCS#11 cần MOTCUA_PKCS11_MODULE, MOTCUA_PKCS11_TOKEN_LABEL và "
            "MOTCUA_PKCS11_PIN (hoặc MOTCUA_PKCS11_PIN_FILE).",
        )
    return Pkcs11Settings(
        module=module,
        token_label=token,
        pin=pin,
        key_label=env.get("MOTCUA_PKCS11_KEY_LABEL", "").strip() or "{unit_id}",
        cert_label=env.get("MOTCUA_PKCS11_CERT_LABEL", "").strip() or "{unit_id}",
    )
