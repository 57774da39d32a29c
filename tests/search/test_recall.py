"""Recall of an approximate page against the exact one, with ties counted as matches."""

from invest_assets.search.checks import page_recall


def page(*scores):
    return [{"id": i, "final_score": s} for i, s in enumerate(scores)]


def test_an_equal_score_counts_whichever_investor_the_index_returned():
    exact = page(0.1, 0.2, 0.3, 0.3)
    assert page_recall(exact, [{"id": 99, "final_score": 0.3}, *page(0.1, 0.2, 0.3)]) == 1.0


def test_a_worse_score_is_a_miss_and_a_short_page_is_partial():
    exact = page(0.1, 0.2, 0.3, 0.3)
    assert page_recall(exact, page(0.1, 0.2, 0.3, 0.31)) == 0.75
    assert page_recall(exact, page(0.1, 0.2)) == 0.5
    assert page_recall([], page(0.5)) == 1.0
