"""Detached Ed25519 signatures in minisign's format, so that a reader
verifies a published edition's ``SHA256SUMS`` with a standard tool::

    minisign -Vm SHA256SUMS -p minisign.pub        (Debian: apt install minisign)

The key is minisign's own secret key file, made once with ``minisign -G
-W`` (no password: publishing runs unattended) and named by
``signing_key`` in publish.yaml; it never goes into the repository or the
site. Only the public key is published (``minisign.pub`` at the site's
root).

The format (https://jedisct1.github.io/minisign/): the signature of the
file's BLAKE2b-512 digest ("ED", pre-hashed), then a *trusted comment*
signed together with that signature. The trusted comment names the
edition and its release time, so a signature is the same every time the
same key signs the same edition: an edition's files never change.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import BuildError

PUBLIC_KEY = "minisign.pub"
SUFFIX = ".minisig"


@dataclass(frozen=True)
class SigningKey:
    key_id: bytes  # 8 bytes, as in the key file
    seed: bytes  # 32 bytes: the Ed25519 private key
    public: bytes  # 32 bytes

    @property
    def key_id_text(self) -> str:
        """As minisign prints it (the id read as a little-endian number)."""
        return self.key_id[::-1].hex().upper()

    def public_key_file(self) -> str:
        blob = base64.b64encode(b"Ed" + self.key_id + self.public).decode("ascii")
        return f"untrusted comment: minisign public key {self.key_id_text}\n{blob}\n"

    def sign(self, data: bytes, trusted_comment: str) -> str:
        """The ``.minisig`` file for ``data``."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if "\n" in trusted_comment or "\r" in trusted_comment:
            raise ValueError("a trusted comment is one line")
        key = Ed25519PrivateKey.from_private_bytes(self.seed)
        signature = key.sign(hashlib.blake2b(data, digest_size=64).digest())
        global_signature = key.sign(signature + trusted_comment.encode("utf-8"))
        b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
        return (f"untrusted comment: signature from minisign secret key {self.key_id_text}\n"
                f"{b64(b'ED' + self.key_id + signature)}\n"
                f"trusted comment: {trusted_comment}\n"
                f"{b64(global_signature)}\n")


def load_key(path: Path) -> SigningKey:
    """A minisign secret key file without a password (``minisign -G -W``)."""
    hint = "make a key with `minisign -G -W -s FILE -p minisign.pub` and name FILE as signing_key in publish.yaml"
    try:
        lines = Path(path).read_text("ascii").splitlines()
    except FileNotFoundError:
        raise BuildError(f"the signing key {path} does not exist\n  hint: {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"the signing key {path} cannot be read ({exc})\n  hint: {hint}") from None
    try:
        raw = base64.b64decode(lines[1], validate=True)
    except (IndexError, ValueError):
        raw = b""
    if len(raw) != 158 or raw[:2] != b"Ed" or raw[4:6] != b"B2":
        raise BuildError(f"{path} is not a minisign secret key\n  hint: {hint}")
    if raw[2:4] != b"\0\0":
        raise BuildError(f"the signing key {path} is protected by a password, and publishing runs unattended\n"
                         f"  hint: {hint} (-W: no password); keep the file out of the repository")
    key_id, secret, checksum = raw[54:62], raw[62:126], raw[126:158]
    if checksum != bytes(32) and checksum != hashlib.blake2b(b"Ed" + key_id + secret, digest_size=32).digest():
        raise BuildError(f"the signing key {path} is damaged (its checksum does not match)\n  hint: {hint}")
    key = SigningKey(key_id, secret[:32], secret[32:])
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    derived = Ed25519PrivateKey.from_private_bytes(key.seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    if derived != key.public:
        raise BuildError(f"the signing key {path} is damaged (its two halves do not belong together)\n  hint: {hint}")
    return key
