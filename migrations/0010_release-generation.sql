CREATE TABLE "release_generation" (
	"id" integer PRIMARY KEY NOT NULL,
	"generation" bigint NOT NULL,
	CONSTRAINT "release_generation_single_row" CHECK ("release_generation"."id" = 1)
);
