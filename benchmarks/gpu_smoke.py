"""GPU smoke check of the paper path, in minutes: a shortened IPR run with every rollout stage on vLLM
and the training stages as accelerate jobs, ending with a report.

Needs a CUDA machine with `pip install torch==2.13.0 && pip install -e '.[vllm,test]'` (no network:
the model is built from scratch unless ``--base-model`` names a local Hugging Face folder, e.g. a
Llama or SmolLM2 checkpoint). Training jobs use one process per visible GPU, up to ``--processes``
(NCCL needs a GPU per process: on a one-GPU machine the job runs in-process; CI covers the
two-process path on a CPU, DDP over gloo). Prints each stage's time and peak host memory, the GPU's
peak memory, and writes ``benchmarks/results/gpu_smoke.json`` (and ``$OUT/gpu_smoke.json`` when
``OUT`` is set, as on the device machine).

    python benchmarks/gpu_smoke.py                          # from-scratch tiny model, ~5 min on one GPU
    python benchmarks/gpu_smoke.py --base-model /models/SmolLM2-135M-Instruct --processes 2
    python benchmarks/gpu_smoke.py --processes 8 --accelerate-config fsdp   # the paper preset's launcher
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHORTENED = {  # a paper-like run cut to minutes: every stage runs, on a few tasks
    "model.corpus_tasks": 200,
    "model.copy_pretraining.steps": 200,
    "data.train_tasks": 200,
    "data.explore_tasks": 20,
    "data.valid_tasks": 20,
    "data.test_tasks": 40,
    "iterations": 1,
    "estimate.n": 2,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-model", default=None, help="a local Hugging Face model folder (default: tiny, from scratch)")
    ap.add_argument("--processes", type=int, default=2, help="training processes at most (one per GPU)")
    ap.add_argument("--backend", default="vllm", choices=["vllm", "hf"])
    ap.add_argument("--accelerate-config", default="ddp", help="ddp, fsdp (the paper preset's), deepspeed_zero3, or a file")
    ap.add_argument("--runs-dir", default=None)
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: this smoke check is for GPU machines (CI covers the CPU paths)", file=sys.stderr)
        return 2
    gpus = torch.cuda.device_count()
    processes = max(1, min(args.processes, gpus))
    sets = dict(SHORTENED, **{"execution.backend": args.backend, "execution.train_processes": processes,
                              "execution.gpu_memory_utilization": 0.5, "execution.accelerate_config": args.accelerate_config})  # fmt: skip
    if args.base_model:
        sets.update({"model.base": args.base_model, "model.init_preset": "null"})
    runs = Path(args.runs_dir or tempfile.mkdtemp(prefix="gpu-smoke-"))
    cmd = [sys.executable, "-m", "harness.cli", "reproduce", "ipr-webshop", "--runs-dir", str(runs)]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    env = {**os.environ, "HARNESS_REGISTRY": str(runs / "registry"), "PYTHONUNBUFFERED": "1"}
    start = time.time()
    proc = subprocess.Popen(cmd, env=env)
    peak_gpu_mib = 0  # the whole GPU's used memory, sampled each second (vLLM and training jobs are other processes)
    while proc.poll() is None:
        used = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True).stdout.split()  # fmt: skip
        peak_gpu_mib = max([peak_gpu_mib, *(int(u) for u in used if u.isdigit())])
        time.sleep(1)
    code = proc.returncode
    wall = time.time() - start
    sys.path.insert(0, str(Path(__file__).parent))
    from reproduce_stages import collect

    found = list((runs / "ipr-webshop").glob("*"))
    rows = collect(found[0]) if found else []
    print(f"\n{'stage':<22} {'seconds':>9} {'peak RSS MiB':>13}")
    for r in rows:
        print(f"{r['stage']:<22} {r['seconds']:>9.1f} {r['peak_rss_mib'] or 0:>13.0f}")
    report = found[0] / "report" / "report.md" if found else None
    result = {
        "exit_code": code, "wall_s": round(wall, 1), "gpus": gpus, "gpu": torch.cuda.get_device_name(0),
        "training_processes": processes, "backend": args.backend, "peak_gpu_memory_mib": peak_gpu_mib, "base_model": args.base_model, "stages": rows,
        "report": report.read_text() if report and report.exists() else None,
        "git_commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
    }  # fmt: skip
    targets = [Path("benchmarks/results/gpu_smoke.json")] + ([Path(os.environ["OUT"]) / "gpu_smoke.json"] if os.environ.get("OUT") else [])
    for out in targets:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")
    print("smoke check", "PASSED" if code == 0 and result["report"] else "FAILED")
    return 0 if code == 0 and result["report"] else 1


if __name__ == "__main__":
    sys.exit(main())
