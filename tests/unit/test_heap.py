"""subgraph/heap: start-up's objects are set aside from the collector, start-up's garbage is not
kept, and what is made afterwards is still collected. Run in a child process: freezing this
test process's heap would keep every later test's objects."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, weakref
    from subgraph.heap import freeze_startup_objects

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return weakref.ref(a)

    gc.disable()  # only the explicit collections below run
    startup_garbage = cycle()  # unreachable before the freeze
    kept = Node()
    kept.me = kept  # alive at the freeze
    frozen = freeze_startup_objects()
    later = cycle()
    gc.collect()
    print(frozen > 1000, frozen == gc.get_freeze_count(), startup_garbage() is None,
          later() is None, gc.is_tracked(kept))
    """
)


def test_startup_objects_are_frozen_and_later_garbage_is_still_collected() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    frozen_many, counted, startup_collected, later_collected, kept = result.stdout.split()
    assert frozen_many == "True"  # the modules' objects at least
    assert counted == "True"
    assert startup_collected == "True"  # collected before the freeze, not kept forever
    assert later_collected == "True"  # a cycle made after the freeze is still collected
    assert kept == "True"
