-- A code redeemed twice marks itself, so tokens issued by a first redemption
-- still in flight are revoked when it completes (see store_code_confirm).
ALTER TABLE auth_codes ADD COLUMN replayed boolean NOT NULL DEFAULT false;
