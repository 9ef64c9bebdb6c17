import numpy as np
import pytest

pytestmark = pytest.mark.real


def test_shape_normalised_and_semantic(embedder):
    v = embedder.embed(["The battery is charged by the solar panels.", "Solar panels charge the battery.", "Paris is in France."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.7 > v[0] @ v[2]


def test_batching_does_not_change_results_or_order(embedder):
    """A text's vector does not depend on the texts embedded with it (the default embedder takes its
    activations' 8-bit range per call, so it embeds one text per call), and comes back in order."""
    texts = [("word " * n).strip() + f" {n}" for n in (3, 90, 10, 40, 1, 120, 7)]
    together = embedder.embed(texts)
    alone = np.stack([embedder.embed_one(t) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
    assert np.allclose(embedder.embed(texts[::-1])[::-1], together, atol=1e-5)


def test_empty_input_and_ids(embedder):
    assert embedder.embed([]).shape == (0, 384)
    assert embedder.id.startswith("minilm-l6-v2-int8-dq1@") and embedder.dim == 384
    assert embedder.count_tokens("hello world") == 4  # [CLS] hello world [SEP]


def test_idle_after_a_query(embedder):
    """onnxruntime's threads stop busy-waiting when a run returns: left spinning, they took the
    cores from the search that follows each query embed (embed + search p50 15 ms against 6)."""
    import resource
    import time

    embedder.embed_one("warm up")
    cpu = []
    for _ in range(5):
        embedder.embed_one("How is the battery charged?")
        t0 = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(0.02)
        t1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu.append((t1.ru_utime + t1.ru_stime) - (t0.ru_utime + t0.ru_stime))
    assert sorted(cpu)[2] < 0.004, cpu  # seconds of CPU in 20 ms of sleep, median of 5


def test_default_embedder_is_the_shipped_file_with_int8_products(pulled_models, tmp_path):
    """The default embedder's file is made from the pulled MiniLM: every weight product an int8
    product (DynamicQuantizeMatMul), no float weight product left, vectors close to the float
    model's; an index made before (recorded as the float model) keeps the float model; a damaged
    derived file is made again; a model with no int8 weight products is left alone."""
    import onnx
    from onnx import TensorProto, helper

    from edge.config import load_settings
    from edge.rag.embed import FAST_MINILM, derive_int8_products, load_embedder

    home = tmp_path / "h"
    (home / "models").mkdir(parents=True)
    for name in ("all-MiniLM-L6-v2.int8.onnx", "all-MiniLM-L6-v2.tokenizer.json"):
        (home / "models" / name).symlink_to(pulled_models / name)
    fast = load_embedder(load_settings(home=str(home), embed_threads=2))
    derived = next((home / "models").glob(f"{FAST_MINILM}-*.onnx"))
    ops = [n.op_type for n in onnx.load(str(derived)).graph.node]
    assert ops.count("DynamicQuantizeMatMul") == 36 and ops.count("MatMul") == 12  # the 12 left: attention's own products
    assert "Cast" not in ops[ops.index("DynamicQuantizeMatMul"):] or ops.count("Cast") < 39
    float_ = load_embedder(load_settings(home=str(home), embed_threads=2, embedder="minilm-float"))
    assert fast.id.startswith(FAST_MINILM + "@") and float_.id.startswith("minilm-l6-v2-int8@")
    texts = ["The battery is charged by the solar panels.", "Solar panels charge the battery.", "Paris is in France.",
             "def dumps(obj, *, indent=None, separators=None)", "The fan starts at 35 °C and stops at 30 °C."]
    a, b = fast.embed(texts), float_.embed(texts)
    assert ((a * b).sum(axis=1) > 0.97).all() and not np.allclose(a, b, atol=1e-6)
    assert a[0] @ a[1] > 0.7 > a[0] @ a[2]
    # an index recorded as made with the float model is searched with it
    assert load_embedder(load_settings(home=str(home)), recorded=float_.id).id == float_.id
    assert load_embedder(load_settings(home=str(home), embedder="minilm-float"), recorded=fast.id).id == fast.id
    # a damaged derived file is made again, with the same vectors
    derived.write_bytes(b"not an onnx model")
    again = load_embedder(load_settings(home=str(home), embed_threads=2))
    assert np.allclose(again.embed(texts), a, atol=1e-5) and derived.stat().st_size > 1_000_000
    # a float model has nothing to replace: nothing is written
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 2], [1.0, 0.0, 0.0, 1.0])
    plain = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [w])), str(plain))
    assert derive_int8_products(plain, tmp_path / "out.onnx") == 0 and not (tmp_path / "out.onnx").exists()
