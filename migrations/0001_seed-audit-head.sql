-- Custom migration (drizzle-kit generate --custom): seeds the one audit_head row.
-- Seeding here rather than lazily on first append means appends need no INSERT … ON CONFLICT
-- round trip, and verifyAuditChain can treat a missing head row as tampering, not as "empty log".
-- last_hash is GENESIS_HASH of src/audit/chain.ts: 64 zero hex digits.
INSERT INTO "audit_head" ("id", "last_id", "last_hash")
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000')
ON CONFLICT ("id") DO NOTHING;
