"""The daemon's garbage-collector policy (adapters.gcpolicy.LongLivedObjects)."""

from __future__ import annotations

import gc
import weakref

import pytest

from msgsim.adapters.gcpolicy import LongLivedObjects


class Node:
    """An object that can sit in a reference cycle and be watched through a weak reference."""

    def __init__(self) -> None:
        self.other: Node | None = None


def make_cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(a)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def policy():
    clock = FakeClock()
    was_enabled = gc.isenabled()
    gc.disable()  # only the collections the test asks for
    try:
        with LongLivedObjects(every=60.0, patience=50.0, clock=clock) as p:
            p.clock = clock
            yield p
    finally:
        if was_enabled:
            gc.enable()


def test_survivors_of_a_full_collection_are_frozen_and_later_ones_skip_them(policy):
    keep = [Node() for _ in range(1000)]
    gc.collect()
    frozen = gc.get_freeze_count()
    assert frozen >= len(keep)
    assert policy.full_collections == 1
    assert policy.complete_collections == 1  # nothing was frozen yet: the first sees everything
    more = [Node() for _ in range(500)]
    gc.collect()
    assert policy.full_collections == 2
    assert policy.complete_collections == 1  # the second looked at the new objects only
    assert gc.get_freeze_count() >= frozen + len(more)


def test_frozen_objects_are_still_freed_by_reference_counting(policy):
    node = Node()
    ref = weakref.ref(node)
    gc.collect()
    del node  # no cycle: gone at once, frozen or not
    assert ref() is None


def test_a_cycle_among_frozen_objects_waits_for_the_next_complete_collection(policy):
    gc.collect()
    cycle, ref = make_cycle()
    gc.collect()  # the cycle is alive: frozen with the rest
    del cycle
    gc.collect()  # partial: frozen garbage is not looked at
    assert ref() is not None
    policy.clock.now += 59.0
    gc.collect()
    assert ref() is not None
    policy.clock.now += 1.0  # a minute since the last complete collection
    gc.collect()
    assert ref() is None
    assert policy.complete_collections == 2


def test_a_slow_complete_collection_puts_the_next_one_off(policy):
    """Complete collections take at most 1/patience of the time: one that took 2 s (on the
    policy's clock) is followed by the next after 100 s rather than 60 s."""
    gc.collect()
    clock = policy.clock
    clock.now += 60.0
    collecting = {"took": 2.0}

    def slow(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2 and collecting["took"]:
            clock.now += collecting["took"]  # runs after the policy's start: the scan "takes" 2 s

    gc.callbacks.append(slow)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(slow)
    assert policy.complete_collections == 2
    cycle, ref = make_cycle()
    gc.collect()
    del cycle
    clock.now += 99.0
    gc.collect()
    assert ref() is not None
    clock.now += 1.0
    gc.collect()
    assert ref() is None


def test_leaving_gives_the_collector_back():
    with LongLivedObjects() as p:
        gc.collect()
        assert gc.get_freeze_count() > 0
        assert p._on_collection in gc.callbacks
    assert gc.get_freeze_count() == 0
    assert p._on_collection not in gc.callbacks
