//! The report's sections about cost: per stage, the micro-benchmarks, the
//! browser assets, and the profiles.
use super::Verdict;
use crate::bench::results::Results;
use crate::bench::targets::{self, STAGES};
use std::fmt::Write;

pub(super) fn stages(md: &mut String, r: &Results) {
    let rows: Vec<_> = STAGES.iter().filter_map(|(s, m, src)| Some((s, r.get(m)?, src))).collect();
    if rows.is_empty() {
        return;
    }
    w!(md, "## Per-stage cost of one event\n");
    w!(
        md,
        "CPU time of each stage on the way of one event, without HTTP: decode → validate → enrich run per event in the request handler, \
         spool and ship per row in the writer and shipper.\n"
    );
    w!(md, "| stage | ns per event | share of these stages | from |\n| --- | ---: | ---: | --- |");
    let total: f64 = rows.iter().map(|r| r.1).sum();
    for (stage, ns, src) in &rows {
        w!(md, "| {stage} | {ns:.0} | {:.0} % | {src} |", ns * 100.0 / total.max(1.0));
    }
    w!(md, "| **all five** | **{total:.0}** | | |\n");
    if let Some(url) = r.get("callgrind.url_parse_pct") {
        w!(
            md,
            "Inside decode → validate → enrich, URL parsing (`url::ParseOptions::parse`, inclusive) is {url:.1} % of the instructions \
             (callgrind).\n"
        );
    }
    w!(
        md,
        "Not in the table: the consent token check (`consent_token_verify/1`) and the user agent (`user_agent_parse/1`) are paid once per \
         request, not per event. The spool and ship rows are the RowBinary records disk mode writes and streams into the insert \
         as they are; `spool_binary_*` + `rowbinary_insert_mock` are the postcard record (decoded, rows rebuilt) of the version \
         before, and `spool_json_*` the JSON record of earlier ones, for comparison.\n"
    );
}

pub(super) fn micro(md: &mut String, r: &Results) {
    let names: Vec<&str> =
        r.measures.iter().filter_map(|m| m.name.strip_prefix("micro.")?.strip_suffix(".ns_per_iter")).collect();
    if names.is_empty() {
        return;
    }
    w!(md, "## Micro-benchmarks\n");
    w!(
        md,
        "criterion, 0.5 s warm-up + 2 s measurement each (the suite took {:.0} s). `…/N` runs N events or rows per iteration.\n",
        r.get("micro.suite_s").unwrap_or(0.0)
    );
    w!(md, "| benchmark | what | ns/iter | ± | ns per event/row/op |\n| --- | --- | ---: | ---: | ---: |");
    for n in names {
        let g = |f: &str| r.get(&format!("micro.{n}.{f}")).unwrap_or(0.0);
        w!(
            md,
            "| `{n}` | {} | {:.0} | {:.0} | **{:.0}** |",
            targets::micro_what(n),
            g("ns_per_iter"),
            g("spread_ns"),
            g("ns_per_op")
        );
    }
    w!(md);
}

pub(super) fn browser(md: &mut String, r: &Results) {
    w!(md, "## Browser cost\n");
    w!(md, "gzip -9 sizes of the built assets in `target/web/` (`cargo xtask build-web`). {}\n", r.run.web_note);
    w!(md, "| asset | raw B | gzipped B | target B (#8) | result | `cargo xtask test` limit B |\n| --- | ---: | ---: | ---: | --- | ---: |");
    for a in &r.run.web {
        let gz = r.measure(&format!("web.{}.gzip_bytes", a.key));
        let target = gz.and_then(|m| m.target).map_or("—".into(), |t| format!("{t:.0}"));
        match gz {
            Some(m) => w!(
                md,
                "| {} | {} | {:.0} | {target} | {} | {} |",
                a.label,
                r.get(&format!("web.{}.raw_bytes", a.key)).map_or("—".into(), |v| format!("{v:.0}")),
                m.value,
                if m.pass() == Some(true) { "PASS" } else { "MISS" },
                a.limit_bytes
            ),
            None => w!(
                md,
                "| {} | — | — | {target} | missing: {} | {} |",
                a.label,
                a.missing.as_deref().unwrap_or("?"),
                a.limit_bytes
            ),
        }
    }
    w!(
        md,
        "| pixel start-up, main-thread time in headless Chromium | | {} | | | |\n",
        r.get("web.pixel_startup_ms")
            .map_or("see the browser test output (`cargo xtask test`)".into(), |ms| format!("{ms} ms"))
    );
}

pub(super) fn profiles(md: &mut String, r: &Results, vs: &[Verdict]) {
    w!(md, "## Profiles\n");
    let missed: Vec<String> =
        vs.iter().filter(|v| v.pass == Some(false)).map(|v| format!("{} ({})", v.what, v.margin)).collect();
    if !missed.is_empty() {
        w!(md, "Missed: {}.\n", missed.join("; "));
    }
    let hw = r.run.hw_counters;
    w!(
        md,
        "Hardware counters: `perf stat -e instructions true` {}. {}\n",
        if hw { "works" } else { "reports `<not supported>` (a VM without a PMU)" },
        if hw {
            "Callgrind still gives exact instruction counts for the per-event path."
        } else {
            "So the per-event CPU path is profiled with valgrind's callgrind on the micro-benchmark (exact instruction counts)."
        }
    );
    if let (Some(incl), Some(selfc)) = (r.profile("callgrind.inclusive"), r.profile("callgrind.self")) {
        w!(md, "### callgrind: `decode_validate_enrich/20` (collection limited to `ktra_benches::pipeline::rows`, i.e. the collector's code path)\n");
        w!(md, "Inclusive (the function and everything it calls):\n\n```\n{incl}\n```\n");
        w!(md, "Self cost, summed over inlined pieces:\n\n```\n{selfc}\n```\n");
    }
    let perf: Vec<_> =
        r.profiles.iter().filter(|p| p.name.starts_with("perf.") && p.name.ends_with(".components")).collect();
    if !r.run.perf_sampling {
        w!(md, "`perf record -e cpu-clock` does not work here; no sampling profile of the running collector.\n");
    }
    for p in perf {
        let symbols = r.profile(&p.name.replace(".components", ".symbols")).unwrap_or("");
        w!(
            md,
            "### perf (cpu-clock sampling, 999 Hz, whole collector process): {}\n\nBy component:\n\n```\n{}\n```\n\nTop symbols (self):\n\n```\n{symbols}\n```\n",
            p.title,
            p.text
        );
    }
}
