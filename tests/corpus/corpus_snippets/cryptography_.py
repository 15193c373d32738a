import os

import cryptography
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def run(tmp):
    f = Fernet(Fernet.generate_key())
    assert f.decrypt(f.encrypt(b"secret")) == b"secret"
    key = ec.generate_private_key(ec.SECP256R1())
    signature = key.sign(b"message", ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(signature, b"message", ec.ECDSA(hashes.SHA256()))  # raises if wrong
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = os.path.join(tmp, "key.pem")
    with open(path, "wb") as out:
        out.write(pem)
    with open(path, "rb") as back:
        serialization.load_pem_private_key(back.read(), password=None)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"abc")
    return f"cryptography {cryptography.__version__}: fernet, ecdsa, pem; sha256(abc) {digest.finalize().hex()[:16]}"
