"""The standard fusions of mentorkb.tools.fusions (the docs' fusion table), against
hand-computed rankings."""


from mentorkb.tools import fusions

# Dense: chunks a1 (doc a), b1 (b), a2 (a); BM25: c1 (c), b1 (b).
LISTS = ([("a1", "a", 0.9), ("b1", "b", 0.8), ("a2", "a", 0.7)],
         [("c1", "c", 12.0), ("b1", "b", 6.0)])


def test_each_list_alone_keeps_its_order_of_documents() -> None:
    assert fusions.alone(LISTS, 0) == ["a", "b"]
    assert fusions.alone(LISTS, 1) == ["c", "b"]


def test_rrf_of_chunks_sums_a_chunk_found_by_both() -> None:
    # b1: 1/62 + 1/62 beats a1 and c1 (1/61 each); a1 before c1, first seen
    assert fusions.rrf_chunks(LISTS, k=60) == ["b", "a", "c"]


def test_rrf_of_documents_ranks_each_list_by_its_best_chunk() -> None:
    # a: 1/61; b: 1/62 + 1/62; c: 1/61 (ties keep first-seen order)
    assert fusions.rrf_docs(LISTS, k=60) == ["b", "a", "c"]


def test_convex_combination_normalises_each_list() -> None:
    # min-max: dense a 1, b 0; BM25 c 1, b 0; a document missing from a list takes its lowest
    assert fusions.convex(LISTS, "min-max", alpha=0.6) == ["a", "c", "b"]  # 0.6, 0.4, 0
    assert fusions.convex(LISTS, "min-max", alpha=0.4) == ["c", "a", "b"]  # 0.6, 0.4, 0
    # z-score: dense a 1, b -1; BM25 c 1, b -1 -> a 0.2, c -0.2, b -1
    assert fusions.convex(LISTS, "z-score", alpha=0.6) == ["a", "c", "b"]
    # theoretical min-max, from 0: dense a 1, b 0.889; BM25 c 1, b 0.5
    # -> c (0.889 + 1) / 2, a (1 + 0.5) / 2, b (0.889 + 0.5) / 2
    assert fusions.convex(LISTS, "theoretical min-max", alpha=0.5) == ["c", "a", "b"]
