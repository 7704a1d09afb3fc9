#!/usr/bin/env bash
# The GPU check of issue 15 on a bare Debian/Ubuntu machine with an NVIDIA GPU (decision trainer-033):
# prepares what bench/gpu-check.ts needs, then runs it within a few minutes.
#   - Node: the one on PATH, else $TANDEM_NODE_DIR/bin (a Node 20+ folder carried to a machine without a
#     registry), else apt-get install nodejs;
#   - the Vulkan loader (libvulkan.so.1): installed, else apt-get install libvulkan1, else the .deb files in
#     $TANDEM_DEBS (apt-get download libvulkan1 on a machine with a mirror) unpacked into /;
#   - NVIDIA's Vulkan driver: found by the loader, else the ICD file under /usr/local/nvidia or
#     /usr/share/vulkan/icd.d named through VK_ICD_FILENAMES;
#   - node_modules: present (carried), else npm install.
# Where the GPU machine reaches no registry, bench/gpu-pack.sh packs Node and node_modules here first.
# Usage: bash bench/gpu-check.sh [--peak-tflops 67] [--presets micro,gpt2] [...]  (arguments go to gpu-check.ts;
# 67 TFLOP/s is the fp32 peak of an H100 or H200 SXM). PyTorch's column uses `python3` (TANDEM_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[gpu-check] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

if [ -n "${TANDEM_NODE_DIR:-}" ]; then export PATH="$TANDEM_NODE_DIR/bin:$PATH"; fi
fail() { say "$*"; exit 1; }
if ! command -v node >/dev/null; then
  say "no node: apt-get install nodejs"
  { as_root apt-get update -qq && as_root apt-get install -y -qq nodejs npm; } || fail "could not install Node: set TANDEM_NODE_DIR to a Node 20+ folder (bench/gpu-pack.sh)"
fi
say "node $(node --version)"

ldconfig=$(command -v ldconfig || echo /sbin/ldconfig) # not on a non-root user's PATH on Debian
if ! "$ldconfig" -p 2>/dev/null | grep 'libvulkan.so.1' >/dev/null; then  # grep -q would end ldconfig with SIGPIPE under pipefail
  if [ -n "${TANDEM_DEBS:-}" ]; then
    # as the device machines' notes say: the loader's .deb unpacked over / (a bare machine that is given back)
    for f in "$TANDEM_DEBS"/*.deb; do as_root dpkg -x "$f" / || fail "could not unpack $f"; done
    as_root "$ldconfig"
  else
    say "no Vulkan loader: apt-get install libvulkan1"
    { as_root apt-get update -qq && as_root apt-get install -y -qq libvulkan1; } || fail "could not install libvulkan1: carry its .deb (TANDEM_DEBS)"
  fi
fi
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
  for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then export VK_ICD_FILENAMES="$icd"; say "NVIDIA's Vulkan driver: $icd"; break; fi
  done
  [ -n "${VK_ICD_FILENAMES:-}" ] || say "no nvidia_icd.json found; the loader looks in its default places"
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" # Dawn's Vulkan loader warns without one
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true

if [ ! -d node_modules/webgpu ] || [ ! -d node_modules/@tensorflow/tfjs-backend-webgpu ]; then
  say "node_modules incomplete: npm install"
  npm install --no-audit --no-fund || fail "npm install failed: without a registry, carry node_modules (bench/gpu-pack.sh)"
fi
exec timeout 600 node node_modules/tsx/dist/cli.mjs bench/gpu-check.ts "$@" # not npx: a carried node_modules has no .bin
