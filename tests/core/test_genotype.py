import json

import pytest
import torch

from ssnas_core.config import SearchSpaceConfig
from ssnas_core.data.features import NodeSpec
from ssnas_core.genotype import Genotype, GenotypeError, bmnas_mmimdb
from ssnas_core.model import Classifier, FusionNet
from ssnas_core.search_space import SuperNet, derive

RAW_MMIMDB_NODES = (NodeSpec("relu4_1", "image", (512, 32, 20)), NodeSpec("relu4_4", "image", (512, 32, 20)),
                    NodeSpec("relu5_3", "image", (512, 16, 10)), NodeSpec("pool5", "image", (512, 8, 5)),
                    NodeSpec("maxout_1", "text", (64,)), NodeSpec("maxout_2", "text", (128,)))


def test_published_bmnas_genotype_loads_and_builds_on_mmimdb_nodes():
    g = bmnas_mmimdb(RAW_MMIMDB_NODES)
    assert g.edges == (("skip", 2), ("skip", 4), ("skip", 4), ("skip", 6))
    assert [c.inner_steps for c in g.steps] == [("concat_fc",), ("linear_glu",)]
    net = FusionNet(Genotype.from_json(json.loads(g.dumps())))
    assert net.used == [2, 4]
    nodes = [torch.randn(2, *n.shape) for n in RAW_MMIMDB_NODES]
    out = net.eval()(nodes)
    assert out.shape == (2, 2 * 192 * 16)
    logits = Classifier(net, 23)(nodes)
    assert logits.shape == (2, 23)


def test_json_round_trip_is_exact():
    g = bmnas_mmimdb()
    again = Genotype.from_json(json.loads(json.dumps(g.to_json())))
    assert again == g
    assert again.to_json() == g.to_json()


def test_derivation_from_fixed_weights():
    nodes = (NodeSpec("a", "image", (4, 2, 2)), NodeSpec("b", "image", (4,)), NodeSpec("t", "text", (3,)))
    space = SearchSpaceConfig(C=4, L=4, steps=2, multiplier=2, node_steps=1, node_multiplier=1)
    net = SuperNet(nodes, space)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.zero_()
        net.alphas[0][0, 2, 1] = 5.0  # cell 0 slot x: text node 2
        net.alphas[0][1, 2, 1] = 4.0  # slot y also prefers 2 -> must take the next best, node 0
        net.alphas[0][1, 0, 1] = 3.0
        net.alphas[1][0, 3, 1] = 5.0  # cell 1 slot x: cell 0 (state 3)
        net.alphas[1][1, 1, 1] = 5.0  # slot y: node 1
        net.betas[0][0, 1, 1] = 5.0  # inner step of cell 0 reads y then x
        net.betas[0][1, 0, 1] = 5.0
        net.gammas[0][0, space.primitives.index("zero")] = 9.0  # zero is never derived
        net.gammas[0][0, space.primitives.index("scale_dot_attn")] = 5.0
        net.gammas[1][0, space.primitives.index("linear_glu")] = 5.0
    g = derive(net)
    assert g.edges == (("skip", 2), ("skip", 0), ("skip", 3), ("skip", 1))
    assert g.steps[0].inner_edges == (("skip", 1), ("skip", 0))
    assert g.steps[0].inner_steps == ("scale_dot_attn",)
    assert g.steps[1].inner_steps == ("linear_glu",)
    assert g.concat == (3, 4)
    assert FusionNet(g)([torch.randn(2, 4, 2, 2), torch.randn(2, 4), torch.randn(2, 3)]).shape == (2, 32)


def test_cover_repoints_the_cheapest_slot_to_the_missing_modality():
    nodes = (NodeSpec("a", "image", (4, 2, 2)), NodeSpec("b", "image", (4,)), NodeSpec("t", "text", (3,)),
             NodeSpec("u", "text", (5,)))
    space = SearchSpaceConfig(C=4, L=4, steps=2, multiplier=2, node_steps=1, node_multiplier=1)
    net = SuperNet(nodes, space)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.zero_()
        net.alphas[0][0, 0, 1], net.alphas[0][1, 1, 1] = 5.0, 5.0  # cell 0 reads a, b (image only)
        net.alphas[1][0, 4, 1], net.alphas[1][1, 0, 1] = 5.0, 5.0  # cell 1 reads cell 0 and a
        net.alphas[1][1, 3, 1] = 4.0  # text u is nearly as strong in cell 1's slot y: the cheapest change
        net.alphas[0][1, 2, 1] = 1.0  # text t in cell 0's slot y: a costlier change
        net.betas[0][0, 1, 1] = net.betas[1][0, 1, 1] = 5.0  # both inner steps read slots y and x
    plain = derive(net)
    assert plain.modalities_read() == ["image"]
    covered = derive(net, cover_modalities=True)
    assert covered.modalities_read() == ["image", "text"]
    assert covered.edges == (("skip", 0), ("skip", 1), ("skip", 4), ("skip", 3))
    assert covered.steps == plain.steps and covered.concat == plain.concat
    with torch.no_grad():  # a genotype that already reads both modalities is left alone
        net.alphas[0][1, 2, 1] = 9.0
    assert derive(net, cover_modalities=True) == derive(net)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["edges"].__setitem__(0, ["skip", 99]), "reads state"),
    (lambda d: d["edges"].__setitem__(0, ["none", 1]), "edge op"),
    (lambda d: d["steps"][0].__setitem__("inner_steps", ["conv"]), "unknown inner op"),
    (lambda d: d.__setitem__("concat", [0, 1]), "concat"),
    (lambda d: d.pop("nodes"), "malformed"),
])
def test_invalid_genotypes_are_rejected(mutate, message):
    d = bmnas_mmimdb().to_json()
    mutate(d)
    with pytest.raises(GenotypeError, match=message):
        Genotype.from_json(d)


def test_modalities_read_follows_the_cells_to_the_output():
    g = bmnas_mmimdb()  # cell 0 = concat_fc(image 2, text 4); cell 1 = linear_glu(text 4, cell 0)
    assert g.read_inputs() == [2, 4]
    assert g.modalities_read() == ["image", "text"]
    d = g.to_json()
    d["edges"] = [["skip", 4], ["skip", 5], ["skip", 5], ["skip", 4]]  # both cells read text nodes only
    from ssnas_core.genotype import modalities_read
    assert modalities_read(d) == ["text"]
    # with two inner steps whose output is step 1 reading (x, step 0), slot y reaches the output through step 0
    space = {**d["space"], "node_steps": 2, "node_multiplier": 1}
    cell = {"inner_edges": [["skip", 0], ["skip", 1], ["skip", 0], ["skip", 2]], "inner_steps": ["sum", "sum"],
            "inner_concat": [3]}
    only_x = {"inner_edges": [["skip", 0], ["skip", 1], ["skip", 0], ["skip", 0]], "inner_steps": ["sum", "sum"],
              "inner_concat": [3]}
    e = {**d, "space": space, "edges": [["skip", 0], ["skip", 4], ["skip", 6], ["skip", 5]], "steps": [cell, only_x]}
    assert Genotype.from_json(e).read_inputs() == [0, 4]  # cell 1 never reads its slot y (text node 5)
    assert modalities_read(e) == ["image", "text"]
