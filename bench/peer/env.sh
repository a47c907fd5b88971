# Source this (". bench/peer/env.sh") to run the PyTorch peer as shared/docs/MACHINE.md prescribes:
# OpenBLAS-OpenMP ahead of the reference BLAS, 2 OpenMP threads, the SkylakeX kernels (OpenBLAS
# 0.3.21 does not know Zen 5 and would fall back to slower ones), and glibc malloc told never to
# return memory to the OS (fresh pages cost 12–18 µs each here).
PEER_DIR="${PEER_DIR:-/opt/peer}"
export LD_LIBRARY_PATH="$PEER_DIR/openblas/usr/lib/x86_64-linux-gnu/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OMP_NUM_THREADS=2
export OPENBLAS_CORETYPE=SkylakeX
export GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1099511627776
PEER_PYTHON=/usr/bin/python3   # Debian's, which has torch (the PATH python3 may be a pyenv one without it)
