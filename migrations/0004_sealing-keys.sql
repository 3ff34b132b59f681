CREATE TABLE "denied_disks" (
	"disk" text PRIMARY KEY NOT NULL,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"created_by" text NOT NULL,
	CONSTRAINT "denied_disks_disk_check" CHECK ("denied_disks"."disk" ~ '^[A-Za-z0-9_-]{43}$')
);
--> statement-breakpoint
CREATE TABLE "sealing_key_versions" (
	"sealing_key_name" text NOT NULL,
	"version" integer NOT NULL,
	"kid" text NOT NULL,
	"public_jwk" jsonb NOT NULL,
	"kek_id" text NOT NULL,
	"envelope" "bytea" NOT NULL,
	"state" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"retired_at" timestamp with time zone,
	CONSTRAINT "sealing_key_versions_pk" PRIMARY KEY("sealing_key_name","version"),
	CONSTRAINT "sealing_key_versions_state_check" CHECK ("sealing_key_versions"."state" in ('active', 'retired'))
);
--> statement-breakpoint
CREATE TABLE "sealing_keys" (
	"name" text PRIMARY KEY NOT NULL,
	"curve" text NOT NULL,
	"state" text NOT NULL,
	"current_version" integer NOT NULL,
	"reference_values" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "sealing_keys_curve_check" CHECK ("sealing_keys"."curve" in ('P-256', 'P-521')),
	CONSTRAINT "sealing_keys_state_check" CHECK ("sealing_keys"."state" in ('enabled', 'disabled')),
	CONSTRAINT "sealing_keys_current_version_check" CHECK ("sealing_keys"."current_version" >= 1)
);
--> statement-breakpoint
ALTER TABLE "sealing_key_versions" ADD CONSTRAINT "sealing_key_versions_sealing_key_name_sealing_keys_name_fk" FOREIGN KEY ("sealing_key_name") REFERENCES "public"."sealing_keys"("name") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
CREATE INDEX "sealing_key_versions_kid_idx" ON "sealing_key_versions" USING btree ("kid");