"""Whisper's threads split between model replicas: faster on a whole call, never another result.

`coach score` decodes several segment batches at once, each on its own
single-thread replica (CoachConfig.decode_workers, 0 = one per thread); live
and replay load two replicas (`CoachConfig.for_live`), one short buffer decoded
at a time on half the threads. The split is a speed choice, so
it is not in the fingerprint and must not change a transcript or a finding.
"""

from __future__ import annotations

import os
import sys

import pytest

from coach.asr.transcriber import TranscriberOptions, thread_split
from coach.config import CoachConfig
from coach.errors import CoachError
from tests.conftest import CALLS


@pytest.mark.parametrize(("threads", "workers", "expected"), [
    (2, 0, (1, 2)),  # the default on 2 cores: two single-thread replicas
    (4, 0, (1, 4)),
    (4, 2, (2, 2)),
    (2, 1, (2, 1)),  # one replica on every thread
    (1, 0, (1, 1)),
    (2, 8, (1, 2)),  # never more replicas than threads
    (3, 2, (1, 2)),
])
def test_threads_are_split_between_replicas(threads, workers, expected):
    assert thread_split(TranscriberOptions(cpu_threads=threads, decode_workers=workers)) == expected


@pytest.mark.parametrize(("threads", "expected"), [(2, (1, 2)), (8, (4, 2)), (1, (1, 1))])
def test_live_loads_two_replicas_sharing_the_threads(threads, expected):
    live = CoachConfig(cpu_threads=threads).for_live()
    options = TranscriberOptions(cpu_threads=threads, decode_workers=live.decode_workers)
    assert thread_split(options) == expected
    assert live.result_options() == CoachConfig(cpu_threads=threads).result_options()


def test_a_gpu_gets_one_replica():
    assert thread_split(TranscriberOptions(cpu_threads=4, decode_workers=0, device="cuda")) == (4, 1)


def test_the_split_is_not_in_the_fingerprint_and_must_not_be_negative():
    assert CoachConfig(decode_workers=1).result_options() == CoachConfig().result_options()
    with pytest.raises(CoachError, match="decode_workers"):
        CoachConfig(decode_workers=-1).validate()


@pytest.mark.slow
def test_one_replica_and_two_give_the_same_call():
    """The same call scored with its segment batches on one two-thread replica and on two
    single-thread replicas at once: identical transcript, findings, metrics and score."""
    from coach import Coach

    results = {}
    for workers in (1, 2):
        coach = Coach.load(CoachConfig(language="ru", cpu_threads=2, decode_workers=workers))
        assert coach.transcriber.ops.workers == workers
        results[workers] = coach.score(CALLS / "forbidden_agent.wav").to_dict()
    one, two = results[1], results[2]
    assert one["transcript"] and one["events"]  # not vacuous
    for key in ("transcript", "events", "metrics", "score", "fingerprint", "customer_name"):
        assert two[key] == one[key], key


@pytest.mark.slow
def test_two_calls_at_once_give_the_same_results_as_one_at_a_time():
    """The inline engine scores two calls at once on one Coach when the model has two
    replicas; each call's result is the one it gets alone, second readings included
    (en_billing reads two windows again, fetched together)."""
    from coach import Coach
    from coach.engines import Job
    from coach.engines.local import LocalEngine

    coach = Coach.load(CoachConfig(cpu_threads=2, decode_workers=2))
    paths = [CALLS / "en" / "en_billing.flac", CALLS / "customer_prompt.wav", CALLS / "name_not_used.wav",
             CALLS / "mono_call.wav"]
    runs = {}
    for at_once in (1, 2):
        got: dict[str, dict] = {}

        def record(job, result, error, got=got):
            assert error is None, error
            got[job.path.name] = result.to_dict()

        LocalEngine(coach.config, coach=coach, calls_at_once=at_once).run([Job(p) for p in paths], record)
        runs[at_once] = got
    one, two = runs[1], runs[2]
    assert set(one) == set(two) == {p.name for p in paths}
    assert one["en_billing.flac"]["verify"]["rereads"] == 2  # not vacuous: the prefetch path ran
    for name in one:
        for key in ("transcript", "events", "metrics", "score", "customer_name", "language"):
            assert two[name][key] == one[name][key], (name, key)
        assert {k: v for k, v in two[name]["verify"].items() if k != "seconds"} == \
            {k: v for k, v in one[name]["verify"].items() if k != "seconds"}, name


def test_the_heap_pad_leaves_a_users_own_setting(monkeypatch):
    from coach.allocator import keep_heap_pad

    monkeypatch.setenv("MALLOC_TOP_PAD_", "0")
    assert keep_heap_pad() is False
    monkeypatch.delenv("MALLOC_TOP_PAD_")
    if sys.platform.startswith("linux"):
        assert keep_heap_pad() is True  # glibc accepted it


ARENA_PROBE = """
import ctypes, ctypes.util, os, sys, tempfile, threading
from coach import allocator
if sys.argv[1] == "cap":
    allocator.limit_arenas(1)
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def work():
    for block in [libc.malloc(4096) for _ in range(100)]:
        libc.free(block)
threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc.fdopen.restype, libc.fdopen.argtypes = ctypes.c_void_p, [ctypes.c_int, ctypes.c_char_p]
libc.malloc_info.argtypes, libc.fclose.argtypes = [ctypes.c_int, ctypes.c_void_p], [ctypes.c_void_p]
fd, path = tempfile.mkstemp()
out = libc.fdopen(os.dup(fd), b"w")
libc.malloc_info(0, out)
libc.fclose(out)
print(open(path).read().count("<heap nr="))
os.remove(path)
"""


def arenas_after_three_threads(mode: str) -> int:
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", ARENA_PROBE, mode], capture_output=True, text=True,
                          env=env, check=True)
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_live_keeps_one_malloc_arena_whatever_the_threads():
    """Three threads that allocate get arenas of their own, unless the cap live sets is on; the
    cap is memory only, not part of a result's fingerprint."""
    assert arenas_after_three_threads("default") > 1
    assert arenas_after_three_threads("cap") == 1
    live = CoachConfig().for_live()
    assert live.malloc_arenas == 1 and CoachConfig().malloc_arenas == 0
    assert live.result_options() == CoachConfig().result_options()
    with pytest.raises(CoachError, match="malloc_arenas"):
        CoachConfig(malloc_arenas=-1).validate()


def test_the_arena_cap_leaves_a_users_own_setting(monkeypatch):
    from coach.allocator import limit_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_arenas(1) is False


@pytest.mark.slow
def test_readings_made_ahead_are_the_readings_made_one_by_one(coach):
    """`Verifier.prefetch` reads a call's second readings at once; each `reread` that follows, in
    order, must get exactly what it would have read itself, also where two asks share a window
    with different token budgets (the second, longer one reads it again one by one)."""
    from coach.audio import load_call
    from coach.verify import Verifier

    call = load_call(CALLS / "name_not_used.wav")

    def audio(speaker, start, end):
        return call.samples(speaker, start, end)

    asks = [("agent", [(0.5, 3.0)]), ("agent", [(0.5, 3.0), (8.0, 12.0)]), ("customer", [(3.5, 6.0)])]
    plain = Verifier(coach.transcriber.ops, "ru", audio)
    ahead = Verifier(coach.transcriber.ops, "ru", audio)
    ahead.prefetch(asks)
    if coach.transcriber.ops.workers > 1:
        assert len(ahead._prefetched) == 3  # not vacuous: both budgets of the shared window, and one more
    for speaker, spans in asks:
        assert ahead.reread(speaker, spans) == plain.reread(speaker, spans)
    assert ahead.stats.rereads == plain.stats.rereads == 3
    assert not ahead._prefetched  # every reading made ahead was used
