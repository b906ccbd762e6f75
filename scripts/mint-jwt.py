#!/usr/bin/env python3
"""Prints an HS256 token for the example config (secret from EXAMPLE_JWT_SECRET)."""
import base64, hashlib, hmac, json, os, sys, time

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

secret = os.environ.get("EXAMPLE_JWT_SECRET", "example-secret-change-me-0123456789")
claims = {"sub": sys.argv[1] if len(sys.argv) > 1 else "user-1", "iss": "https://issuer.example.com",
          "aud": "example-clients", "iat": int(time.time()), "exp": int(time.time()) + 3600}
signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
print(signing_input + "." + b64(sig))
