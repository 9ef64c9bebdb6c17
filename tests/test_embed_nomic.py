"""The optional embedder, nomic-embed-text-v1.5 (GGUF, llama.cpp), on the real pinned model:
pulled from its split zip, an index made with it, searched with it, and an index keeps the
embedder it was made with whatever the setting says later."""

import json

import numpy as np
import pytest

from .conftest import link_models, run_edge

NOMIC = "nomic-embed-text-v1.5-f16"

DOCS = {
    "bread.md": "# Sourdough loaf\n\nMix the starter with flour and water, then let the dough rise for 12 hours at room "
                "temperature before shaping. Bake at 230 degrees for 40 minutes.\n",
    "tyres.md": "# Car maintenance\n\nCheck the tyre pressure monthly: the front wheels take 2.3 bar, the rear wheels "
                "2.1 bar when cold. Rotate the tyres every 10,000 km.\n",
    "taxes.md": "# Filing taxes\n\nThe annual return is due on 31 January. Late filing costs a penalty of 100 pounds, "
                "and interest is charged on unpaid tax.\n",
}


@pytest.fixture(scope="session")
def nomic_models(pulled_models):
    from edge.models import ModelStore

    store = ModelStore(pulled_models.parent)
    store.pull([NOMIC], progress=False, log=lambda m: None)
    assert store.status(store.get(NOMIC)).verified
    return pulled_models


@pytest.fixture
def nomic_home(nomic_models, _isolated_home):
    return link_models(nomic_models, _isolated_home)


@pytest.mark.real
def test_nomic_embeds_queries_near_their_passages(nomic_home):
    from edge.config import load_settings
    from edge.rag.embed import LlamaEmbedder, load_embedder

    emb = load_embedder(load_settings(embedder="nomic"))
    assert isinstance(emb, LlamaEmbedder) and emb.dim == 768 and emb.id.startswith(NOMIC + "@")
    docs = emb.embed(list(DOCS.values()))
    assert docs.shape == (3, 768) and np.allclose(np.linalg.norm(docs, axis=1), 1, atol=1e-4)
    # a question sharing no content word with its passage lands nearest to it
    q = emb.embed_query("How much air should I put in my automobile's wheels?")
    assert int(np.argmax(docs @ q)) == 1, docs @ q
    # batching changes nothing: the same text alone or among others embeds alike
    alone = emb.embed([DOCS["taxes.md"]])[0]
    assert float(alone @ docs[2]) > 0.999
    # a text longer than the model's window is cut, not refused
    assert emb.embed(["word " * 2000]).shape == (1, 768)


@pytest.mark.real
def test_an_index_made_with_nomic_is_searched_with_nomic(nomic_home, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    p = run_edge("index", "add", str(docs), "--json", env={"EDGE_EMBEDDER": "nomic"})
    assert p.returncode == 0, p.stderr
    st = json.loads(run_edge("index", "stats", "--json").stdout)
    assert st["embedder"].startswith(NOMIC + "@") and st["dim"] == 768 and st["chunks"] >= 3
    # the setting is back to its default (minilm): the index is still searched with its own embedder
    s = run_edge("index", "search", "How much air should I put in my automobile's wheels?", "--mode", "vector", "--json")
    assert s.returncode == 0, s.stderr
    assert json.loads(s.stdout)["results"][0]["path"].endswith("tyres.md")
    # and a minilm index stays minilm when the setting says nomic
    other = tmp_path / "minilm.db"
    assert run_edge("index", "add", str(docs), "--index", str(other)).returncode == 0
    p = run_edge("index", "add", str(docs / "bread.md"), "--index", str(other), "--json", env={"EDGE_EMBEDDER": "nomic"})
    assert p.returncode == 0, p.stderr
    st = json.loads(run_edge("index", "stats", "--index", str(other), "--json").stdout)
    assert st["embedder"].startswith("minilm-l6-v2-int8-dq1@") and st["dim"] == 384


def test_unknown_embedder_setting_is_one_line(tmp_path):
    p = run_edge("index", "stats", env={"EDGE_EMBEDDER": "bert9000", "EDGE_HOME": str(tmp_path / "h")})
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert "embedder" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
