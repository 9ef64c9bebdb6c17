"""Fusing the vector and keyword candidate lists into the top k, with per-document diversity.

Weighted reciprocal rank fusion: a chunk scores w_vec / (RRF_K + its vector rank) plus
w_kw / (RRF_K + its keyword rank). Optionally (`per_doc`) at most that many chunks of one
document are taken while others are waiting (one long document can fill every slot: git-log took
3 of 5 on the manual-page corpus); if there are not k chunks from other documents, the rest of
the top ones fill in. The defaults were chosen by a grid search on the foreign corpus
(build/foreign/, edge/bench/foreign.py, report in build/reports/retrieval.md), not on the sample
manual: keyword ranks weigh 1.5x, and no cap per document, because every cap tried (1, 2, 3)
lowered the share of questions whose answer was in the passages (the answer's document also
holds the next-best passages there), while document recall@5 was already 1.0 without one.
"""

from __future__ import annotations

from dataclasses import dataclass

RRF_K = 60
W_VECTOR = 1.0
W_KEYWORD = 1.5
PER_DOC: int | None = None  # measured on the foreign corpus: any cap lowered evidence-in-top-k (see the report)


@dataclass(frozen=True)
class Fusion:
    """Parameters of the fusion; the defaults are the tuned ones."""

    w_vector: float = W_VECTOR
    w_keyword: float = W_KEYWORD
    rrf_k: int = RRF_K
    per_doc: int | None = PER_DOC  # None: no limit


def fuse(vec: list[tuple[int, float]], kw: list[tuple[int, float]], k: int, doc_of: dict[int, int],
         f: Fusion = Fusion()) -> list[tuple[int, float]]:
    """(chunk id, score) of the top `k`, best first, from candidates (id, distance-or-bm25) in rank order."""
    scores: dict[int, float] = {}
    for r, (cid, _) in enumerate(vec, 1):
        scores[cid] = scores.get(cid, 0.0) + f.w_vector / (f.rrf_k + r)
    for r, (cid, _) in enumerate(kw, 1):
        scores[cid] = scores.get(cid, 0.0) + f.w_keyword / (f.rrf_k + r)
    ranked = sorted(scores.items(), key=lambda x: -x[1])
    return diversify(ranked, k, doc_of, f.per_doc)


def diversify(ranked: list[tuple[int, float]], k: int, doc_of: dict[int, int], per_doc: int | None) -> list[tuple[int, float]]:
    if per_doc is None:
        return ranked[:k]
    taken: list[tuple[int, float]] = []
    held: list[tuple[int, float]] = []
    count: dict[int, int] = {}
    for item in ranked:
        d = doc_of.get(item[0], -1)
        if count.get(d, 0) < per_doc:
            taken.append(item)
            count[d] = count.get(d, 0) + 1
            if len(taken) == k:
                return taken
        else:
            held.append(item)
    # fewer than k from other documents: the best of the held-back ones fill in, in rank order
    order = {cid: i for i, (cid, _) in enumerate(ranked)}
    return sorted(taken + held[: k - len(taken)], key=lambda x: order[x[0]])
