#!/usr/bin/env bash
# The HTTP fuzz of the suite (test/server/http-fuzz.test.ts) with many more runs: every JSON route
# of openapi/openapi.json, the GET routes' query parameters, and mutated evidence of every type to
# /v1/attest and /v1/verify, against a keybroker started on 127.0.0.1 (PGlite, and PostgreSQL when
# DATABASE_URL is set). Every answer must be below 500 and every error problem+json.
#
#   scripts/fuzz-http.sh            # 2000 runs per route
#   scripts/fuzz-http.sh 10000 42   # runs per route, fast-check seed (to replay a failure)
set -euo pipefail
cd "$(dirname "$0")/.."
export KEYBROKER_FUZZ_RUNS="${1:-2000}"
if [ -n "${2:-}" ]; then export KEYBROKER_FUZZ_SEED="$2"; fi
# A property of thousands of requests per route outlasts the suite's per-test timeout.
exec npx vitest run test/server/http-fuzz.test.ts --testTimeout=0
