"""A service using civpass e-ME with authlib: fields by the OIDC `claims` parameter, and a form
filled through RFC 9396 `authorization_details` (type `form_filling`), linked or anonymous.

Each function is what a service's own code would do; docs/EME.md walks through them and
test_service.py runs them against a real civpass in CI.
"""

import json
import secrets

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt


class Service:
    def __init__(self, issuer, client_id, client_secret, redirect_uri):
        self.metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
        self.client_id = client_id
        self.session = OAuth2Session(
            client_id,
            client_secret,
            scope="openid",
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
        )

    def _authorize(self, **extra):
        """The authorization URL and what the callback needs (PKCE verifier, state, nonce)."""
        pending = {"code_verifier": secrets.token_urlsafe(48), "nonce": secrets.token_urlsafe(16)}
        url, state = self.session.create_authorization_url(
            self.metadata["authorization_endpoint"],
            code_verifier=pending["code_verifier"],
            nonce=pending["nonce"],
            **extra,
        )
        pending["state"] = state
        return url, pending

    def ask_for_fields(self):
        """E-mail (essential) in the ID token, the mobile from UserInfo, the registry's
        date of birth as OpenID Connect for Identity Assurance verified_claims."""
        claims = {
            "id_token": {"email": {"essential": True}},
            "userinfo": {
                "phone_number": None,
                "verified_claims": {
                    "verification": {"trust_framework": None},
                    "claims": {"birthdate": None},
                },
            },
        }
        return self._authorize(claims=json.dumps(claims), purpose="To send you your licence reminders")

    def fill_form(self, anonymous=False):
        details = [{
            "type": "form_filling",
            "form_name": "Application for a Fishing Licence",
            "form_number": "AFCD 7",
            "purpose": "To issue your licence",
            "fields": ["given_name", {"name": "email", "essential": True}, "phone_number"],
            "anonymous": anonymous,
        }]
        return self._authorize(authorization_details=json.dumps(details))

    def finish(self, callback_url, pending):
        """The callback: tokens, the ID token's claims checked against the JWKS, and UserInfo
        unless the filling was anonymous (its access token opens nothing)."""
        tokens = self.session.fetch_token(
            self.metadata["token_endpoint"],
            authorization_response=callback_url,
            code_verifier=pending["code_verifier"],
            state=pending["state"],
        )
        keys = JsonWebKey.import_key_set(requests.get(self.metadata["jwks_uri"], timeout=10).json())
        id_token = jwt.decode(
            tokens["id_token"],
            keys,
            claims_options={
                "iss": {"essential": True, "value": self.metadata["issuer"]},
                "aud": {"essential": True, "value": self.client_id},
                "nonce": {"essential": True, "value": pending["nonce"]},
            },
        )
        id_token.validate()
        userinfo = None
        if not id_token["sub"].startswith("anon_"):
            userinfo = self.session.get(self.metadata["userinfo_endpoint"], timeout=10).json()
        form = (tokens.get("authorization_details") or [None])[0]
        return dict(id_token), userinfo, form
