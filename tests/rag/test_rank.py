"""Weighted reciprocal rank fusion and the per-document cap."""

from edge.rag.rank import Fusion, diversify, fuse


def test_weights_move_keyword_hits_up():
    vec = [(1, 0.1), (2, 0.2), (3, 0.3)]
    kw = [(3, -9.0), (4, -8.0)]
    doc_of = {1: 1, 2: 1, 3: 2, 4: 3}
    assert [c for c, _ in fuse(vec, kw, 2, doc_of, Fusion(w_keyword=1.0, per_doc=None))] == [3, 1]
    assert [c for c, _ in fuse(vec, kw, 4, doc_of, Fusion(w_keyword=3.0, per_doc=None))][:2] == [3, 4]
    assert [c for c, _ in fuse(vec, kw, 4, doc_of, Fusion(w_keyword=0.0, per_doc=None))][:3] == [1, 2, 3]


def test_per_doc_cap_holds_back_then_fills_in():
    ranked = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)]
    doc_of = {1: 10, 2: 10, 3: 10, 4: 20}
    assert [c for c, _ in diversify(ranked, 3, doc_of, 1)] == [1, 2, 4]  # 4 joins; 2 fills the last slot
    assert [c for c, _ in diversify(ranked, 2, doc_of, 1)] == [1, 4]
    assert [c for c, _ in diversify(ranked, 3, doc_of, None)] == [1, 2, 3]
