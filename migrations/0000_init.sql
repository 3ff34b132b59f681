CREATE TABLE "admin_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"token_hash" text NOT NULL,
	"role" text NOT NULL,
	"label" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "admin_tokens_token_hash_unique" UNIQUE("token_hash"),
	CONSTRAINT "admin_tokens_role_check" CHECK ("admin_tokens"."role" in ('admin', 'registrar', 'auditor')),
	CONSTRAINT "admin_tokens_token_hash_check" CHECK ("admin_tokens"."token_hash" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
CREATE TABLE "audit_head" (
	"id" integer PRIMARY KEY NOT NULL,
	"last_id" bigint NOT NULL,
	"last_hash" text NOT NULL,
	CONSTRAINT "audit_head_single_row_check" CHECK ("audit_head"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigint PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"subject" text NOT NULL,
	"outcome" text NOT NULL,
	"detail" jsonb NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "reference_measurements" (
	"set_name" text NOT NULL,
	"measurement" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	"revoke_reason" text,
	CONSTRAINT "reference_measurements_pk" PRIMARY KEY("set_name","measurement"),
	CONSTRAINT "reference_measurements_hex_check" CHECK ("reference_measurements"."measurement" ~ '^[0-9a-f]+$')
);
--> statement-breakpoint
CREATE TABLE "reference_value_sets" (
	"name" text PRIMARY KEY NOT NULL,
	"allow_debug" boolean NOT NULL,
	"version" integer NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "secret_versions" (
	"secret_name" text NOT NULL,
	"version" integer NOT NULL,
	"kek_id" text NOT NULL,
	"envelope" "bytea" NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "secret_versions_pk" PRIMARY KEY("secret_name","version")
);
--> statement-breakpoint
CREATE TABLE "secrets" (
	"name" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"state" text NOT NULL,
	"current_version" integer NOT NULL,
	"reference_values" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "secrets_kind_check" CHECK ("secrets"."kind" in ('opaque', 'luks')),
	CONSTRAINT "secrets_state_check" CHECK ("secrets"."state" in ('enabled', 'disabled')),
	CONSTRAINT "secrets_current_version_check" CHECK ("secrets"."current_version" >= 1)
);
--> statement-breakpoint
CREATE TABLE "used_nonces" (
	"nonce_id" text PRIMARY KEY NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "reference_measurements" ADD CONSTRAINT "reference_measurements_set_name_reference_value_sets_name_fk" FOREIGN KEY ("set_name") REFERENCES "public"."reference_value_sets"("name") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "secret_versions" ADD CONSTRAINT "secret_versions_secret_name_secrets_name_fk" FOREIGN KEY ("secret_name") REFERENCES "public"."secrets"("name") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
CREATE INDEX "used_nonces_expires_at_idx" ON "used_nonces" USING btree ("expires_at");