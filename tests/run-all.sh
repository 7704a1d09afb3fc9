#!/usr/bin/env bash
# `npm test`: everything CI needs, in order, stopping at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$1"; }

step "typecheck";                npm run --silent typecheck
step "lint";                     npm run --silent lint
step "build";                    npm run --silent build > /dev/null
# the trainer's numerical tests run on native BLAS (OpenBLAS, installed here when root) and again on
# plain wasm; the second run only where the first used BLAS (decision trainer-014)
step "native BLAS for the trainer"
if npx tsx tests/support/ensure-openblas.ts; then blas=on; else blas=off; fi
step "unit and trainer tests";   npm run --silent test:unit
if [ "$blas" = on ]; then
  step "trainer numerics on plain wasm"; TANDEM_BLAS=off npm run --silent test:trainer-numerics
fi
# the webgpu backend's device cases on Mesa's software Vulkan device (decision trainer-033); the unit run
# above skips them where no adapter exists, so here they must run
step "webgpu on a software Vulkan device (lavapipe)"
vulkan_rc=0; vulkan_env=$(npx tsx tests/support/ensure-lavapipe.ts) || vulkan_rc=$?
if [ "$vulkan_rc" = 0 ]; then
  (eval "$vulkan_env"; TANDEM_REQUIRE_WEBGPU=1 npx tsx tests/support/node-test.ts trainer/backend/webgpu.test.ts)
elif [ "$vulkan_rc" != 3 ]; then
  echo "tests/support/ensure-lavapipe.ts failed (exit $vulkan_rc)"; exit 1
fi
step "integration (PostgreSQL)"; npm run --silent test:integration
step "fault injection";          npm run --silent test:faults
step "end-to-end (Chromium)";    npm run --silent test:e2e
printf '\nAll test stages passed.\n'
