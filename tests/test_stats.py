"""ppt_book.stats: the intervals and paired tests agree with hand computations."""

import numpy as np
import pytest

from ppt_book.stats import bootstrap_ci, confusion_matrix, paired_test, per_class_table


def test_bootstrap_and_paired_test_against_hand_computations():
    y = np.array([1] * 20)
    a = np.array([1] * 20)
    b = a.copy()
    b[:6] = 0
    a[6] = 0  # only A right: 6, only B right: 1
    t = paired_test(y, a, b)
    assert (t["only_a_right"], t["only_b_right"]) == (6, 1)
    assert t["mcnemar_p"] == pytest.approx(2 * (1 + 7) / 2**7)  # 2 P(X <= 1), X ~ Bin(7, 1/2)
    assert t["diff"] == pytest.approx(0.25) and t["diff_low"] <= 0.25 <= t["diff_high"]
    acc, low, high = bootstrap_ci([0, 1, 1, 0], [0, 1, 0, 0])
    assert acc == 0.75 and 0 <= low <= acc <= high <= 1
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        bootstrap_ci(y, a, "auc")


def test_confusion_matrix_and_per_class_table_against_hand_counts():
    # true 2 2 0 1 1 1 0, predicted 2 0 0 1 2 1 1: counted by hand
    y, p = [2, 2, 0, 1, 1, 1, 0], [2, 0, 0, 1, 2, 1, 1]
    assert confusion_matrix(y, p, 3).tolist() == [[1, 1, 0], [0, 2, 1], [1, 0, 1]]
    table = per_class_table(y, p, ["comedy", "history", "tragedy"])
    assert table.index.tolist() == ["comedy", "history", "tragedy"]
    assert np.allclose(table.precision, [1 / 2, 2 / 3, 1 / 2]) and np.allclose(table.recall, [1 / 2, 2 / 3, 1 / 2])
    assert np.allclose(table.f1, [1 / 2, 2 / 3, 1 / 2]) and table.support.tolist() == [2, 3, 2]
    assert bootstrap_ci(y, p, "macro_f1")[0] == pytest.approx((1 / 2 + 2 / 3 + 1 / 2) / 3)
    # a class never predicted: precision 0, not a division by zero
    never = per_class_table([0, 1, 2], [0, 1, 1], ["a", "b", "c"])
    assert never.loc["c"].tolist() == [0.0, 0.0, 0.0, 1]
    with pytest.raises(ValueError, match=r"must lie in 0\.\.2"):
        confusion_matrix([0, 3], [0, 1], 3)
