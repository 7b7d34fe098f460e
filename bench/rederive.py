"""Re-derive finished self-supervised searches with the modality cover, from their saved states.

The cover (``search.cover_modalities``, ``ssnas_core.search_space.cover``) changes only the
derivation, not the search's training, so a search that already ran need not run again: its saved
state holds the final architecture weights. This is exact only when the search's best epoch is its
last (the state holds the last epoch's weights); the tool refuses otherwise, and checks that the
argmax derivation of the state reproduces the genotype the search recorded.

    python bench/rederive.py --features DIR --source WORKDIR/<old hash> --dest WORKDIR/<new hash> --seeds 0,1,2

Writes ``<dest>/ssl_seed<s>/search_result.json`` (the history of the source, the covered genotype,
``rederived_from``), which ``bench/quality.py`` then reuses as the search stage of that seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssnas_core.arch_diagnostics import cover_warning  # noqa: E402
from ssnas_core.checkpoint import load_tensors, strip_prefix  # noqa: E402
from ssnas_core.config import RunConfig  # noqa: E402
from ssnas_core.data.features import FeatureDataset  # noqa: E402
from ssnas_core.search_space import SuperNet, cover, derive  # noqa: E402


def rederive(ds: FeatureDataset, source: Path, dest: Path) -> dict:
    tensors, meta = load_tensors(source / "search_state.safetensors", "cpu")
    last = meta["epoch"] - 1
    if meta["best"]["epoch"] != last:
        raise SystemExit(f"{source}: best epoch {meta['best']['epoch']} is not the last ({last}); "
                         "the saved weights are not the best epoch's: rerun the search instead")
    cfg = RunConfig.from_dict(meta["config"])
    net = SuperNet(ds.node_specs, cfg.space)
    net.load_state_dict(strip_prefix("net", tensors))
    argmax = derive(net)
    covered = cover(net, argmax)
    if argmax.to_json() != meta["best"]["genotype"]:
        raise SystemExit(f"{source}: the state's argmax genotype differs from the recorded one")
    res = json.loads((source / "search_result.json").read_text())
    res |= {"genotype": covered.to_json(), "modalities_read": covered.modalities_read(),
            "rederived_from": str(source)}
    if covered != argmax:
        res["warnings"] = [w for w in res["warnings"] if "reads only" not in w] + [
            cover_warning(argmax.modalities_read(), covered.modalities_read())]
    res["history"][-1] |= {"modalities_read_argmax": argmax.modalities_read(), "covered": covered != argmax,
                           "modalities_read": covered.modalities_read(), "genotype": covered.to_json()}
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "search_result.json").write_text(json.dumps(res))
    return {"source": str(source), "argmax_edges": argmax.to_json()["edges"],
            "covered_edges": covered.to_json()["edges"], "modalities_read": covered.modalities_read()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument("--source", type=Path, required=True, help="quality.py workdir of the finished searches")
    ap.add_argument("--dest", type=Path, required=True, help="quality.py workdir of the new configuration")
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args(argv)
    ds = FeatureDataset(args.features)
    for s in (int(x) for x in args.seeds.split(",")):
        print(json.dumps(rederive(ds, args.source / f"ssl_seed{s}", args.dest / f"ssl_seed{s}")))


if __name__ == "__main__":
    main()
