"""Trend buckets keep every value the bus carried: a short stop inside a bucket still shows."""

from __future__ import annotations

import numpy as np
import pytest

from tui.trend_data import BucketedTrend, range_columns


def test_a_four_second_stop_inside_a_bucket_shows_as_its_low() -> None:
    trend = BucketedTrend(bucket_s=10.0)
    times = np.arange(0.0, 30.0, 0.1)
    power = np.where((times >= 13.0) & (times < 17.0), 0.0, 60.0)   # a 4 s stop in the second bucket
    trend.add(times, power)
    lows = [b.low for b in trend.buckets]
    highs = [b.high for b in trend.buckets]
    assert lows == [60.0, 0.0, 60.0]
    assert highs == [60.0, 60.0, 60.0]
    assert trend.last == 60.0


def test_samples_added_in_pieces_merge_into_the_same_bucket() -> None:
    whole, pieces = BucketedTrend(bucket_s=10.0), BucketedTrend(bucket_s=10.0)
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(0.0, 100.0, 500))
    values = rng.normal(50.0, 10.0, 500)
    whole.add(times, values)
    for chunk in np.array_split(np.arange(500), 17):
        pieces.add(times[chunk], values[chunk])
    assert whole.buckets == pieces.buckets


def test_nan_samples_are_skipped_and_old_buckets_fall_off() -> None:
    trend = BucketedTrend(bucket_s=1.0, max_buckets=5)
    trend.add(np.array([0.5, 1.5]), np.array([np.nan, np.nan]))
    assert trend.buckets == [] and trend.last is None and trend.span() is None
    trend.add(np.arange(0.0, 10.0, 0.5), np.arange(20.0))
    assert [b.index for b in trend.buckets] == [5, 6, 7, 8, 9]
    assert trend.span() == (10.0, 19.0)


def test_range_columns_fill_from_low_to_high() -> None:
    trend = BucketedTrend(bucket_s=10.0)
    trend.add(np.array([1.0, 2.0, 11.0, 21.0, 22.0]), np.array([0.0, 100.0, 100.0, 0.0, 0.0]))
    full, top, bottom = range_columns(trend.buckets, height_rows=2, low=0.0, high=100.0)
    assert full == "██"                   # 0..100 covers both rows
    assert top[1] == " " and top[0] != " "     # 100 only: a mark in the top row
    assert bottom[0] == " " and bottom[1] != " "   # 0 only: a mark in the bottom row


def test_a_bucket_width_must_be_positive() -> None:
    with pytest.raises(ValueError, match="bucket_s"):
        BucketedTrend(bucket_s=0.0)
