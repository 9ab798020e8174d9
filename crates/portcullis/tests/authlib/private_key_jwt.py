"""private_key_jwt (RFC 7523) client credentials with authlib, an independent client.

Run by crates/portcullis/tests/it/private_key_jwt.rs. Reads TOKEN_ENDPOINT, CLIENT_ID,
KID, PRIVATE_KEY_FILE (PEM, EC P-256) and SCOPE from the environment; gets two tokens
(each request signs a fresh assertion: authlib's defaults, aud = the token endpoint
URL, exp one hour ahead, a random jti) and prints {"tokens": [...]} as JSON.
"""

import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")  # authlib.jose's deprecation notice goes to stderr

from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.oauth2.rfc7523 import PrivateKeyJWT  # noqa: E402

try:  # authlib 1.6+ signs with joserfc keys
    from joserfc.jwk import ECKey
except ImportError:  # older authlib: its own jose keys
    from authlib.jose import ECKey


def main():
    token_endpoint = os.environ["TOKEN_ENDPOINT"]
    with open(os.environ["PRIVATE_KEY_FILE"]) as f:
        key = ECKey.import_key(f.read())
    session = OAuth2Session(
        client_id=os.environ["CLIENT_ID"],
        client_secret=key,
        token_endpoint_auth_method=PrivateKeyJWT(
            token_endpoint, headers={"kid": os.environ["KID"]}, alg="ES256"
        ),
        scope=os.environ["SCOPE"],
    )
    tokens = [
        session.fetch_token(token_endpoint, grant_type="client_credentials")
        for _ in range(2)
    ]
    json.dump({"tokens": tokens}, sys.stdout)


if __name__ == "__main__":
    main()
