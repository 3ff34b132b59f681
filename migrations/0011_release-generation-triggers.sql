-- Custom migration (drizzle-kit generate --custom): seeds the one release_generation row and
-- raises it, in the changing transaction, on every write to the data a release decision reads.
-- Replicas read the counter in the round trip that consumes the nonce and keep in-process copies
-- of these rows only while it is unchanged (src/services/release-data.ts). Triggers rather than
-- code in every storage function: a write from any path (an operator's psql included) counts.
-- Statement-level, so a bulk import raises it once per statement, not once per row; BEFORE the
-- statement, so a transaction takes the counter's row lock before the row locks of its first
-- change and concurrent admin changes queue on the counter instead of deadlocking over it.
INSERT INTO "release_generation" ("id", "generation") VALUES (1, 0) ON CONFLICT ("id") DO NOTHING;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "keybroker_bump_release_generation"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "release_generation" SET "generation" = "generation" + 1 WHERE "id" = 1;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "secrets_release_generation" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "secrets"
  FOR EACH STATEMENT EXECUTE FUNCTION "keybroker_bump_release_generation"();
--> statement-breakpoint
CREATE TRIGGER "secret_versions_release_generation" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "secret_versions"
  FOR EACH STATEMENT EXECUTE FUNCTION "keybroker_bump_release_generation"();
--> statement-breakpoint
CREATE TRIGGER "policies_release_generation" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "policies"
  FOR EACH STATEMENT EXECUTE FUNCTION "keybroker_bump_release_generation"();
--> statement-breakpoint
CREATE TRIGGER "policy_versions_release_generation" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "policy_versions"
  FOR EACH STATEMENT EXECUTE FUNCTION "keybroker_bump_release_generation"();
--> statement-breakpoint
CREATE TRIGGER "reference_value_sets_release_generation" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "reference_value_sets"
  FOR EACH STATEMENT EXECUTE FUNCTION "keybroker_bump_release_generation"();
--> statement-breakpoint
CREATE TRIGGER "reference_measurements_release_generation" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "reference_measurements"
  FOR EACH STATEMENT EXECUTE FUNCTION "keybroker_bump_release_generation"();
--> statement-breakpoint
CREATE TRIGGER "sealing_keys_release_generation" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "sealing_keys"
  FOR EACH STATEMENT EXECUTE FUNCTION "keybroker_bump_release_generation"();
--> statement-breakpoint
CREATE TRIGGER "sealing_key_versions_release_generation" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "sealing_key_versions"
  FOR EACH STATEMENT EXECUTE FUNCTION "keybroker_bump_release_generation"();
--> statement-breakpoint
CREATE TRIGGER "denied_disks_release_generation" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "denied_disks"
  FOR EACH STATEMENT EXECUTE FUNCTION "keybroker_bump_release_generation"();
