"""ppt_book.stats: the intervals and paired tests agree with hand computations."""

import numpy as np
import pytest

from ppt_book.stats import bootstrap_ci, paired_test


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
