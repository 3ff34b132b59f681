CREATE TABLE "collateral" (
	"kind" text NOT NULL,
	"key" text NOT NULL,
	"bytes" "bytea" NOT NULL,
	"sha256" text NOT NULL,
	"uploaded_at" timestamp with time zone NOT NULL,
	"uploaded_by" text NOT NULL,
	"not_after" timestamp with time zone,
	CONSTRAINT "collateral_pk" PRIMARY KEY("kind","key"),
	CONSTRAINT "collateral_kind_check" CHECK ("collateral"."kind" ~ '^[a-z0-9][a-z0-9-]*$'),
	CONSTRAINT "collateral_sha256_check" CHECK ("collateral"."sha256" ~ '^[0-9a-f]{64}$')
);
