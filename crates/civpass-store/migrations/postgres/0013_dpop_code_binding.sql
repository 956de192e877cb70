-- RFC 9449 section 10: an authorization code bound to the client's DPoP key, from the
-- `dpop_jkt` parameter or a DPoP proof sent with the pushed request.
ALTER TABLE login_requests ADD COLUMN dpop_jkt TEXT;
