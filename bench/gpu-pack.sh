#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs onto a GPU machine that reaches no registry (this workplace's device
# machines): this machine's Node and the runtime part of node_modules that bench/gpu-check.ts loads (every
# platform's binaries but linux-x64's left out), and libvulkan1's .deb, as .gpu/ (ignored by git).
# On the GPU machine: tar -xJf .gpu/node.tar.xz -C /tmp && tar -xJf .gpu/modules.tar.xz &&
#   TANDEM_NODE_DIR=/tmp/node TANDEM_DEBS=.gpu bash bench/gpu-check.sh --peak-tflops 67
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu
exclude=$(git rev-parse --git-path info/exclude) # .git is a file in a worktree
mkdir -p "$(dirname "$exclude")"
grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >> "$exclude"
node_bin=$(readlink -f "$(command -v node)")
stage=$(mktemp -d)
mkdir -p "$stage/node/bin" && cp "$node_bin" "$stage/node/bin/node"
tar -C "$stage" -cJf .gpu/node.tar.xz node
rm -rf "$stage"
# node_modules: the packages gpu-check.ts reaches (tsx runs it), without other platforms' binaries, maps and
# browser bundles; each must be there (a missing one would leave the GPU machine trying npm install without a registry)
modules=(node_modules/.package-lock.json node_modules/@tensorflow node_modules/webgpu node_modules/@webgpu node_modules/debug node_modules/ms
  node_modules/koffi node_modules/zod node_modules/tsx node_modules/esbuild node_modules/@esbuild
  node_modules/seedrandom node_modules/long)
for m in "${modules[@]}"; do [ -e "$m" ] || { echo "gpu-pack: $m is missing: run npm install first" >&2; exit 1; }; done
tar -cJf .gpu/modules.tar.xz \
  --exclude='node_modules/webgpu/dist/win32-*' --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/linux-arm64' \
  --exclude='*.map' --exclude='*.min.js' --exclude='*.es2017.js' --exclude='*.esm.js' --exclude='*.fesm.js' \
  --exclude='node_modules/koffi/build/koffi/[!l]*' --exclude='node_modules/koffi/build/koffi/linux_[!x]*' \
  "${modules[@]}"
(cd .gpu && apt-get download libvulkan1 >/dev/null 2>&1) || echo "libvulkan1's .deb not downloaded (no apt-get or mirror): the GPU machine must have the loader"
ls -la .gpu >&2
du -ch .gpu/* | tail -1 >&2
