"""Pre-measure: the iter1/reward_model stage code on an existing tiny Monte-Carlo run's published iteration-1 data."""
import json, sys
from pathlib import Path
from types import SimpleNamespace
from harness.recipes import load_recipe
from harness.execution.executor import Executor
from harness.methods import reward_model_stage

src_run = Path(sys.argv[1]); out = Path(sys.argv[2])
shared = {"expert": Path("/work/runs/_shared/expert-98741b89a54eb6ab")}
def manifest(name):
    p = shared.get(name, src_run / name) / "manifest.json"
    return json.loads(p.read_text())
recipe = load_recipe("ipr-webshop", None, ["estimate.method=learned"])
sft = sys.argv[3]
ctx = SimpleNamespace(recipe=recipe, run=SimpleNamespace(manifest=manifest, run_id=f"proto-from-{src_run.name}"),
                      executor=Executor(recipe.execution, None), log=print)
import time; t = time.perf_counter()
res = reward_model_stage.train(ctx, out, sft, 1)
res["seconds"] = time.perf_counter() - t
(out / "proto_result.json").write_text(json.dumps(res, indent=1, default=str))
print(json.dumps(res["agreement"], indent=1), res["seconds"])
