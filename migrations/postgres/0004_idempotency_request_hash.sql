-- The SHA-256 (hex) of the method, path and body of the first request with a key: the key
-- with another request is refused instead of replaying an answer to a different question.
-- NULL on keys stored before this column existed (they replay as before, for 24 hours).
ALTER TABLE idempotency_keys ADD COLUMN request_hash TEXT;
