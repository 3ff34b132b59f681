CREATE TABLE "ca_versions" (
	"ca_name" text NOT NULL,
	"version" integer NOT NULL,
	"certificate" "bytea" NOT NULL,
	"chain_pem" text NOT NULL,
	"key_id" text NOT NULL,
	"not_after" timestamp with time zone NOT NULL,
	"kek_id" text NOT NULL,
	"envelope" "bytea" NOT NULL,
	"crl_number" bigint DEFAULT 0 NOT NULL,
	"crl" "bytea",
	"crl_next_update" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "ca_versions_pk" PRIMARY KEY("ca_name","version")
);
--> statement-breakpoint
CREATE TABLE "certificate_authorities" (
	"name" text PRIMARY KEY NOT NULL,
	"key_type" text NOT NULL,
	"source" text NOT NULL,
	"current_version" integer NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "certificate_authorities_source_check" CHECK ("certificate_authorities"."source" in ('generated', 'imported')),
	CONSTRAINT "certificate_authorities_current_version_check" CHECK ("certificate_authorities"."current_version" >= 1)
);
--> statement-breakpoint
CREATE TABLE "certificate_profiles" (
	"name" text PRIMARY KEY NOT NULL,
	"ca_name" text NOT NULL,
	"allowed_dns_names" jsonb NOT NULL,
	"allowed_ip_addresses" jsonb NOT NULL,
	"allowed_subject" jsonb NOT NULL,
	"extended_key_usage" jsonb NOT NULL,
	"lifetime_seconds" integer NOT NULL,
	"reference_values" jsonb NOT NULL,
	"policy" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "certificate_profiles_lifetime_check" CHECK ("certificate_profiles"."lifetime_seconds" > 0)
);
--> statement-breakpoint
CREATE TABLE "issued_certificates" (
	"serial" text PRIMARY KEY NOT NULL,
	"ca_name" text NOT NULL,
	"ca_version" integer NOT NULL,
	"profile" text NOT NULL,
	"entity_id" text,
	"subject" text NOT NULL,
	"dns_names" jsonb NOT NULL,
	"ip_addresses" jsonb NOT NULL,
	"spki_sha256" text NOT NULL,
	"certificate" "bytea" NOT NULL,
	"not_before" timestamp with time zone NOT NULL,
	"not_after" timestamp with time zone NOT NULL,
	"ear_digest" text NOT NULL,
	"ear_status" text NOT NULL,
	"token_id" text NOT NULL,
	"evidence_type" text NOT NULL,
	"measurement" text NOT NULL,
	"reference_values" jsonb NOT NULL,
	"renewed_from" text,
	"issued_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone,
	"revocation_reason" text,
	"revoked_by" text,
	CONSTRAINT "issued_certificates_serial_check" CHECK ("issued_certificates"."serial" ~ '^[0-9a-f]+$')
);
--> statement-breakpoint
ALTER TABLE "ca_versions" ADD CONSTRAINT "ca_versions_ca_name_certificate_authorities_name_fk" FOREIGN KEY ("ca_name") REFERENCES "public"."certificate_authorities"("name") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
ALTER TABLE "certificate_profiles" ADD CONSTRAINT "certificate_profiles_ca_name_certificate_authorities_name_fk" FOREIGN KEY ("ca_name") REFERENCES "public"."certificate_authorities"("name") ON DELETE restrict ON UPDATE cascade;--> statement-breakpoint
CREATE INDEX "issued_certificates_ca_idx" ON "issued_certificates" USING btree ("ca_name","ca_version");--> statement-breakpoint
CREATE INDEX "issued_certificates_measurement_idx" ON "issued_certificates" USING btree ("measurement");