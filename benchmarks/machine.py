"""The machine a benchmark ran on, as BENCHMARKS.md records it: CPU model, cores, AVX-512, BF16 and AMX flags (which
set what reduced precision gains on a CPU)."""
import os
import subprocess


def describe() -> dict:
    """lscpu's model name, the usable cores and whether AVX-512F, AVX512_BF16 and AMX_BF16 are present."""
    text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    return {"cpu": fields.get("Model name", "unknown").strip(), "cores": len(os.sched_getaffinity(0)),
            "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "amx_bf16": "amx_bf16" in flags}


def line() -> str:
    m = describe()
    return (f"{m['cpu']}, {m['cores']} cores, AVX-512F {'yes' if m['avx512f'] else 'no'}, "
            f"AVX512_BF16 {'yes' if m['avx512_bf16'] else 'no'}, AMX_BF16 {'yes' if m['amx_bf16'] else 'no'}")
