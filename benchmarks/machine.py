"""The machine a benchmark ran on, as BENCHMARKS.md records it: CPU model, cores, AVX-512 and BF16 flags."""
import os
import subprocess


def describe() -> dict:
    """lscpu's model name, the usable cores and whether AVX-512F and AVX512_BF16 are present."""
    text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    return {"cpu": fields.get("Model name", "unknown").strip(), "cores": len(os.sched_getaffinity(0)),
            "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags}


def line() -> str:
    m = describe()
    return (f"{m['cpu']}, {m['cores']} cores, AVX-512F {'yes' if m['avx512f'] else 'no'}, "
            f"AVX512_BF16 {'yes' if m['avx512_bf16'] else 'no'}")
