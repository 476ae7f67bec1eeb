"""Documents: receipts, slips and results as PDF/A (WeasyPrint), PAdES signatures (pyHanko), QR verification.

* `templates` — the document kinds (data: `motcua/data/documents/index.yaml` + Jinja2 HTML/CSS per kind);
* `render` — HTML → PDF/A with the bundled DejaVu font, deterministic given its inputs;
* `pki` — who signs: a development CA with one key per unit under `var/pki/`, or a PKCS#11 token;
* `signing` — PAdES signature (visible, in the box the template reserves), RFC 3161 timestamp if configured;
* `verification` — integrity, cryptographic validity and trust of an uploaded PDF.

Nothing here touches the database: issuance (which event gives which document, storage, audit) is in
`motcua.services.documents`.
"""
