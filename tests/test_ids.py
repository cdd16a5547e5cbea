"""Identifiers from the broker's seeded RNG (broker/ids.py)."""

from __future__ import annotations

import random
import uuid

from hypothesis import given
from hypothesis import strategies as st

from msgsim.broker.ids import uuid4_batch, uuid4_from


@given(seed=st.integers(min_value=0, max_value=2**64), n=st.integers(min_value=1, max_value=12))
def test_uuid4_batch_draws_the_same_ids_as_one_at_a_time(seed, n):
    """A batch of ids is exactly the ids that n single draws give, and leaves the RNG where they
    leave it, so a batch send and n single sends replay identically from one seed."""
    one, many = random.Random(seed), random.Random(seed)
    singles = [uuid4_from(one) for _ in range(n)]
    assert uuid4_batch(many, n) == singles
    assert one.getstate() == many.getstate()


@given(seed=st.integers(min_value=0, max_value=2**64))
def test_uuid4_from_is_an_rfc_4122_version_4_uuid(seed):
    """AWS MessageIds are random (version 4) UUIDs in the 8-4-4-4-12 hex form."""
    text = uuid4_from(random.Random(seed))
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122
