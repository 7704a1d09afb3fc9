#!/usr/bin/env bash
# `npm test`: everything CI needs, in order, stopping at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$1"; }

step "typecheck";                npm run --silent typecheck
step "lint";                     npm run --silent lint
step "build";                    npm run --silent build > /dev/null
step "unit and trainer tests";   npm run --silent test:unit
step "integration (PostgreSQL)"; npm run --silent test:integration
step "fault injection";          npm run --silent test:faults
step "end-to-end (Chromium)";    npm run --silent test:e2e
printf '\nAll test stages passed.\n'
