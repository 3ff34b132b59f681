CREATE TABLE "bundle_imports" (
	"bundle" text PRIMARY KEY NOT NULL,
	"version" integer NOT NULL,
	"digest" text NOT NULL,
	"signer" text NOT NULL,
	"signed_at" timestamp with time zone NOT NULL,
	"imported_at" timestamp with time zone NOT NULL,
	"imported_by" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "bundle_signers" (
	"fingerprint" text PRIMARY KEY NOT NULL,
	"label" text NOT NULL,
	"format" text NOT NULL,
	"public_key" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"created_by" text NOT NULL,
	CONSTRAINT "bundle_signers_fingerprint_check" CHECK ("bundle_signers"."fingerprint" ~ '^[0-9a-f]{64}$'),
	CONSTRAINT "bundle_signers_format_check" CHECK ("bundle_signers"."format" in ('keybroker', 'automata'))
);
--> statement-breakpoint
CREATE TABLE "policies" (
	"name" text PRIMARY KEY NOT NULL,
	"current_version" integer NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "policies_current_version_check" CHECK ("policies"."current_version" >= 1)
);
--> statement-breakpoint
CREATE TABLE "policy_versions" (
	"name" text NOT NULL,
	"version" integer NOT NULL,
	"description" text NOT NULL,
	"rules" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"created_by" text NOT NULL,
	CONSTRAINT "policy_versions_pk" PRIMARY KEY("name","version")
);
--> statement-breakpoint
CREATE TABLE "reference_value_set_versions" (
	"name" text NOT NULL,
	"version" integer NOT NULL,
	"snapshot" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "reference_value_set_versions_pk" PRIMARY KEY("name","version")
);
--> statement-breakpoint
CREATE TABLE "tpm_aks" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"source" text NOT NULL,
	"spki" "bytea" NOT NULL,
	"tpm_public" "bytea",
	"ek_certificate_sha256" text,
	"created_at" timestamp with time zone NOT NULL,
	"created_by" text NOT NULL,
	CONSTRAINT "tpm_aks_id_check" CHECK ("tpm_aks"."id" ~ '^[0-9a-f]{64}$'),
	CONSTRAINT "tpm_aks_source_check" CHECK ("tpm_aks"."source" in ('registered', 'enrolled'))
);
--> statement-breakpoint
CREATE TABLE "tpm_cas" (
	"name" text PRIMARY KEY NOT NULL,
	"purpose" text NOT NULL,
	"certificate" "bytea" NOT NULL,
	"sha256" text NOT NULL,
	"subject" text NOT NULL,
	"not_after" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"created_by" text NOT NULL,
	CONSTRAINT "tpm_cas_purpose_check" CHECK ("tpm_cas"."purpose" in ('ek', 'ak')),
	CONSTRAINT "tpm_cas_sha256_check" CHECK ("tpm_cas"."sha256" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
ALTER TABLE "reference_measurements" ADD COLUMN "expect" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "reference_measurements" ADD COLUMN "not_before" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "reference_measurements" ADD COLUMN "not_after" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "reference_measurements" ADD COLUMN "provenance" jsonb;--> statement-breakpoint
ALTER TABLE "reference_value_sets" ADD COLUMN "evidence_type" text;--> statement-breakpoint
ALTER TABLE "reference_value_sets" ADD COLUMN "expect" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "reference_value_sets" ADD COLUMN "provenance" jsonb;--> statement-breakpoint
ALTER TABLE "secrets" ADD COLUMN "policy" text;--> statement-breakpoint
ALTER TABLE "policy_versions" ADD CONSTRAINT "policy_versions_name_policies_name_fk" FOREIGN KEY ("name") REFERENCES "public"."policies"("name") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "reference_value_set_versions" ADD CONSTRAINT "reference_value_set_versions_name_reference_value_sets_name_fk" FOREIGN KEY ("name") REFERENCES "public"."reference_value_sets"("name") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
CREATE INDEX "tpm_cas_purpose_idx" ON "tpm_cas" USING btree ("purpose");