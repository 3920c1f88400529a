-- OpenID Connect / OAuth conformance (issue 14).
-- dpop_jkt: the DPoP key an authorization code is bound to (RFC 9449 §10:
-- dpop_jkt on the request, or the key of a proof sent to PAR); redeeming it
-- takes a proof by that key. redirect_uri_sent: the authorization request
-- named its redirect_uri, so the token request must name it too (RFC 6749
-- §4.1.3). Both default to the old behaviour for rows an older binary writes.
ALTER TABLE auth_codes
    ADD COLUMN dpop_jkt text,
    ADD COLUMN redirect_uri_sent boolean NOT NULL DEFAULT false;
