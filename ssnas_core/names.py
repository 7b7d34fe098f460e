"""Names that torch-free code (the service's API and workers, the CLI's argument checks) shares
with the torch modules that own them. Defined here once, imported by both sides: nothing to keep
in sync by hand. Imports nothing but the standard library.
"""

from __future__ import annotations

# backbone name -> "module:factory" (ssnas_core.backbones.registry imports the factories lazily)
BACKBONE_FACTORIES = {
    "vgg19": "ssnas_core.backbones.vgg19:build",
    "efficientnet_lite0": "ssnas_core.backbones.efficientnet_lite0:build",
    "maxout_mlp": "ssnas_core.backbones.maxout_mlp:build",
    "minilm": "ssnas_core.backbones.minilm:build",
    "audio_cnn": "ssnas_core.backbones.audio_cnn:build",
    "identity": "ssnas_core.backbones.identity:build",
}
KNOWN_BACKBONES = tuple(sorted(BACKBONE_FACTORIES))

# files of a job's working directory (ssnas_core.pipeline, ssnas_core.baselines.runner.run_mfas)
SEARCH_RESULT, SEARCH_STATE = "search_result.json", "search_state.safetensors"
PRETRAIN_STATE, MODEL, RESULT = "pretrain_state.safetensors", "model.safetensors", "result.json"
MFAS_SCORES = "mfas_scores.json"  # run_mfas's resumable state: the dev score of every trained candidate
# the resumable ones (a service mirrors them so that another machine can resume the run);
# the model is stored apart
STATE_FILES = (SEARCH_STATE, SEARCH_RESULT, PRETRAIN_STATE, MFAS_SCORES)

# a feature folder (ssnas_core.data.features)
MANIFEST, DATAFILE = "manifest.json", "features.h5"
# folder-only dataset formats (ssnas_core.data.detect knows them as folders): their marker files
FOLDER_FORMATS = {"features": (MANIFEST, DATAFILE), "avmnist": ("mnist.npz", "fsdd.npz")}
