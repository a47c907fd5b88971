#!/usr/bin/env bash
# The PyTorch peer at its best on this machine (shared/docs/MACHINE.md "The peer, at its best here"):
# Debian's python3-torch (1.13, which links the slow reference BLAS) run against Debian's OpenBLAS
# 0.3.21 (OpenMP build), unpacked outside the repository into $PEER_DIR/openblas.
# Idempotent: installs only what is missing. Needs root (apt). Run: bench/peer/setup.sh
# bench/peer/env.sh then sets the environment the peer runs under.
set -euo pipefail
PEER_DIR="${PEER_DIR:-/opt/peer}"
mkdir -p "$PEER_DIR"

if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch
fi

if [ ! -e "$PEER_DIR/openblas/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0" ]; then
  (cd "$PEER_DIR" && rm -f libopenblas0-openmp_*.deb && apt-get download libopenblas0-openmp \
     && dpkg -x libopenblas0-openmp_*.deb openblas)
fi

/usr/bin/python3 -c "import torch; print('peer ready: torch', torch.__version__)"
