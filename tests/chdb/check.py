#!/usr/bin/env python3
"""Engine comparison: ktra's schema and analyst queries on current ClickHouse.

A Rust integration test runs real traffic against the ClickHouse 18.16 server
and dumps, into $KTRA_ENGINE_DUMP_DIR:

    params.json            {"site": ..., "from": unix, "to": unix}
    tables/<table>.jsonl   JSONEachRow dump of each table (events, consent_log, ...)
    results/<query>.jsonl  JSONEachRow result of each analyst query on 18.16

This script loads the same rows into chdb (current ClickHouse, in-process),
using the migrations and queries the collector renders for chdb's version
(`ktra-collector sql --server-version V ...`, binary from $KTRA_COLLECTOR_BIN,
default target/debug/ktra-collector), runs every query and compares its rows
with the 18.16 result: numbers compare as numbers whether or not they were
quoted, floats with a relative tolerance of 1e-6, rows in the order given.

Prints one line per query and ends with `N passed, M failed`; exits 1 on any
failure, including a missing or empty dump (a check that cannot fail is a bug).
Standard library only, besides chdb.
"""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Both engines must agree on the time zone the dump's DateTime strings are in;
# the private 18.16 server runs in UTC (xtask's config.xml).
os.environ["TZ"] = "UTC"

ROOT = Path(__file__).resolve().parents[2]
REL_TOL = 1e-6
ABS_TOL = 1e-9
NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def fail_setup(msg):
    print(f"FAIL {msg}")
    print("0 passed, 1 failed")
    sys.exit(1)


def read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: {e}") from e
    return rows


def load_dump(dump):
    """Validates the dump directory and returns (params, table files, result files)."""
    if not dump.is_dir():
        fail_setup(
            f"engine dump {dump} does not exist: the Rust integration test that runs traffic "
            "against ClickHouse 18.16 did not write it (did `cargo test` run with "
            "KTRA_TEST_CLICKHOUSE_URL and KTRA_ENGINE_DUMP_DIR set, and did it pass?)"
        )
    params_path = dump / "params.json"
    if not params_path.is_file():
        fail_setup(f"{params_path} is missing: the dump is incomplete")
    params = json.loads(params_path.read_text(encoding="utf-8"))
    for key in ("site", "from", "to"):
        if key not in params:
            fail_setup(f"{params_path} lacks {key!r}")
    tables = sorted((dump / "tables").glob("*.jsonl")) if (dump / "tables").is_dir() else []
    results = sorted((dump / "results").glob("*.jsonl")) if (dump / "results").is_dir() else []
    if not tables:
        fail_setup(f"no table dumps in {dump / 'tables'}")
    if not results:
        fail_setup(f"no 18.16 query results in {dump / 'results'}")
    if sum(p.stat().st_size for p in tables) == 0:
        fail_setup(f"every table dump in {dump / 'tables'} is empty: no traffic was recorded")
    return params, tables, results


def rendered_sql(version, params):
    binary = os.environ.get("KTRA_COLLECTOR_BIN") or str(ROOT / "target/debug/ktra-collector")
    cmd = [
        binary, "sql",
        "--server-version", version,
        "--site", str(params["site"]),
        "--from", str(params["from"]),
        "--to", str(params["to"]),
    ]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        fail_setup(f"{binary} not found (build it with `cargo build -p ktra-collector` or set KTRA_COLLECTOR_BIN)")
    except subprocess.CalledProcessError as e:
        fail_setup(f"`{' '.join(cmd)}` failed ({e.returncode}):\n{e.stderr.strip()}")
    try:
        sql = json.loads(out.stdout)
        migrations, queries = sql["migrations"], sql["queries"]
    except (ValueError, KeyError, TypeError) as e:
        fail_setup(f"`{' '.join(cmd)}` printed no {{migrations, queries}} JSON ({e}): {out.stdout[:500]!r}")
    if not isinstance(migrations, list) or not isinstance(queries, dict) or not queries:
        fail_setup("the collector rendered no migrations list or an empty query set")
    return migrations, queries


# 18.16 prints the zero Date/DateTime as zeros; current servers print (and
# expect) the epoch, and would parse the zero string as some other time.
ZERO_DATES = {"0000-00-00 00:00:00": "1970-01-01 00:00:00", "0000-00-00": "1970-01-01"}


def epoch_zero_dates(v):
    """Rewrites 18.16's zero dates, also inside arrays and maps, as the epoch."""
    if isinstance(v, str):
        return ZERO_DATES.get(v, v)
    if isinstance(v, list):
        return [epoch_zero_dates(x) for x in v]
    if isinstance(v, dict):
        return {k: epoch_zero_dates(x) for k, x in v.items()}
    return v


def normalize(v):
    """Makes 18.16 and current output comparable: quoted numbers become
    numbers, zero dates become the epoch."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if NUMBER.match(s):
            return float(s)
        if s.lower() in ("nan", "inf", "+inf", "-inf"):
            return float(s)
        return ZERO_DATES.get(v, v)
    if isinstance(v, list):
        return [normalize(x) for x in v]
    if isinstance(v, dict):
        return {k: normalize(x) for k, x in v.items()}
    return v


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def rows_equal(expected, actual):
    return len(expected) == len(actual) and all(
        same(normalize(e), normalize(a)) for e, a in zip(expected, actual)
    )


def same_rows_any_order(expected, actual):
    key = lambda r: json.dumps(normalize(r), sort_keys=True)
    return sorted(map(key, expected)) == sorted(map(key, actual))


def show(label, rows, limit=20):
    print(f"    {label} ({len(rows)} rows):")
    for r in rows[:limit]:
        print(f"      {json.dumps(r, ensure_ascii=False, sort_keys=True)}")
    if len(rows) > limit:
        print(f"      ... {len(rows) - limit} more")


def main():
    try:
        import chdb  # noqa: F401
    except ImportError as e:
        fail_setup(f"chdb is not installed ({e}); `cargo xtask setup` installs chdb-core")

    dump_env = os.environ.get("KTRA_ENGINE_DUMP_DIR")
    dump = Path(dump_env) if dump_env else ROOT / "target/engine-dump"
    params, table_files, result_files = load_dump(dump)

    tmp = tempfile.mkdtemp(prefix="ktra-chdb-")
    try:
        return run(tmp, dump, params, table_files, result_files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(tmp, dump, params, table_files, result_files):
    from chdb import session as chs

    sess = chs.Session(tmp)

    def q(sql, fmt="CSV"):
        return sess.query(sql, fmt)

    version = str(q("SELECT version()", "TabSeparated")).strip()
    print(f"chdb engine: ClickHouse {version}")
    print(f"dump: {dump} (site {params['site']}, {params['from']}..{params['to']})")
    migrations, queries = rendered_sql(version, params)

    passed = failed = 0
    setup_ok = True
    q("CREATE DATABASE IF NOT EXISTS ktra")
    q("USE ktra")
    for n, stmt in enumerate(migrations, 1):
        try:
            q(stmt)
        except Exception as e:  # chdb raises its own error types
            setup_ok = False
            failed += 1
            print(f"FAIL migration {n}: {str(e).strip()}\n    {stmt.strip()[:400]}")
    if setup_ok:
        print(f"ok migrations ({len(migrations)} statements)")

    for path in table_files:
        table = path.stem
        try:
            rows = read_jsonl(path)
        except ValueError as e:
            failed += 1
            print(f"FAIL load {table}: {e}")
            continue
        if not rows:
            print(f"ok load {table} (0 rows)")
            continue
        data = "\n".join(json.dumps(epoch_zero_dates(r), ensure_ascii=False) for r in rows)
        try:
            q(f"INSERT INTO ktra.`{table}` FORMAT JSONEachRow\n{data}\n")
            count = str(q(f"SELECT count() FROM ktra.`{table}`", "TabSeparated")).strip()
            print(f"ok load {table} ({count} rows)")
        except Exception as e:
            failed += 1
            print(f"FAIL load {table}: {str(e).strip()}")

    expected_by_name = {p.stem: p for p in result_files}
    for name in sorted(set(queries) | set(expected_by_name)):
        if name not in queries:
            failed += 1
            print(f"DIFF {name}: an 18.16 result exists but the collector rendered no such query")
            continue
        if name not in expected_by_name:
            failed += 1
            print(f"DIFF {name}: no 18.16 result in {dump / 'results'} (the dump must cover every query)")
            continue
        expected = read_jsonl(expected_by_name[name])
        try:
            actual = [json.loads(l) for l in q(queries[name], "JSONEachRow").bytes().decode().splitlines() if l.strip()]
        except Exception as e:
            failed += 1
            print(f"DIFF {name}: query failed on {version}: {str(e).strip()}")
            print(f"    {queries[name].strip()[:600]}")
            continue
        if rows_equal(expected, actual):
            passed += 1
            print(f"ok {name} ({len(actual)} rows)")
        else:
            failed += 1
            order = " (same rows, different order)" if same_rows_any_order(expected, actual) else ""
            first = next(
                (i for i, (e, a) in enumerate(zip(expected, actual)) if not same(normalize(e), normalize(a))),
                min(len(expected), len(actual)),
            )
            print(f"DIFF {name}{order}: first difference at row {first + 1}")
            show("ClickHouse 18.16", expected)
            show(f"ClickHouse {version} (chdb)", actual)

    sess.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
