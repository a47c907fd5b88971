#!/usr/bin/env bash
# publish.sh — builds bench/GpuBench as one self-contained linux-x64 file in publish/gpubench/
# (git-ignored), for GPU machines that have the NVIDIA driver but no .NET SDK.
# Not trimmed and not AOT: ILGPU generates code with Reflection.Emit. InvariantGlobalization comes
# from Directory.Build.props (no ICU needed there); libcuda.so.1 is found by the resolver in
# kernels/Gpu/GpuContext.cs. Output ~40–50 MB, under the device tool's 64 MiB carry limit.
#
# Run (repo root): bash bench/gpu/publish.sh      then carry publish/gpubench to the device and run
#                  bash bench/gpu/run-on-device.sh there.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf publish/gpubench
dotnet publish bench/GpuBench/GpuBench.csproj -c Release -r linux-x64 --self-contained \
  -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -p:DebugType=none -o publish/gpubench
ls -la publish/gpubench
du -sh publish/gpubench
