//! Builds the browser assets into `target/web/` and measures them.
//!
//! - pixel: `ktra-pixel` for wasm32 (`wasm-release` profile) → wasm-opt
//!   `-Oz` → `pixel/ktra_pixel_bg.wasm`; its JS host
//!   (`pixel-wasm/src/web/host.js`, which also loads the wasm) minified by
//!   esbuild → `pixel/ktra_pixel.js`, its constants (op and event codes,
//!   names) generated from the Rust definitions (`ktra_pixel::abi::js_defines`)
//! - banner: every top-level `*.js`/`*.css` of `consent-banner/` minified with
//!   esbuild (`ktra.js` loader, `banner.js`, `banner.css` are required); the
//!   banner's texts, `consent-banner/texts/<lang>.json`: English inlined
//!   into `banner.js` (`TEXTS_EN`), every other language written compact to
//!   `banner/<lang>.json`, a text pack the banner fetches when it shows that
//!   language (`TEXT_PACKS` lists them)
//! - dashboard: `web-demo/dashboard/` copied to `dashboard/`
//!
//! [`print_sizes`] shows raw, gzip-9 and brotli sizes and the budget table:
//! each budget's gzip-9 bytes against its product target (issue #18:
//! printed as met or missed) and its hard limit (the test run fails above
//! it). Budgets and targets are numbers of `ktra_facts::budgets`.
use crate::{cargo, install, proc, root, target_dir};
use anyhow::{bail, Context, Result};
use ktra_facts::budgets;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Gzipped byte budgets: (label, files relative to `target/web`, target
/// bytes, hard limit bytes). The test run fails over the hard limit and
/// prints whether the target is met. The label's first word is the key
/// `cargo xtask bench` files the sizes under (`web.<key>.gzip_bytes`), so
/// each is distinct. A group's limit is the sum of its parts' limits.
pub const BUDGETS: &[(&str, &[&str], u64, u64)] = &[
    ("loader (ktra.js)", &["ktra.js"], budgets::LOADER_GZ_BYTES, budgets::LOADER_GZ_BYTES),
    (
        "banner (banner.js + banner.css + largest text pack)",
        BANNER_FILES,
        budgets::BANNER_GZ_BYTES,
        budgets::BANNER_GZ_BYTES,
    ),
    ("pixel (wasm + host JS)", PIXEL_FILES, budgets::PIXEL_GZ_TARGET, budgets::PIXEL_GZ_BYTES),
    (
        "consent (loader + banner)",
        &["ktra.js", "banner.js", "banner.css", LARGEST_PACK],
        budgets::CONSENT_GZ_TARGET,
        budgets::LOADER_GZ_BYTES + budgets::BANNER_GZ_BYTES,
    ),
    (
        "stack (loader + banner + pixel)",
        &["ktra.js", "banner.js", "banner.css", LARGEST_PACK, "pixel/ktra_pixel_bg.wasm", "pixel/ktra_pixel.js"],
        budgets::STACK_GZ_TARGET,
        budgets::LOADER_GZ_BYTES + budgets::BANNER_GZ_BYTES + budgets::PIXEL_GZ_BYTES,
    ),
];

/// The pixel's two files: the wasm and its JS host.
const PIXEL_FILES: &[&str] = &["pixel/ktra_pixel_bg.wasm", "pixel/ktra_pixel.js"];

/// What a visitor who is asked downloads of the banner: the script, the
/// stylesheet and (in a language other than English) one text pack.
const BANNER_FILES: &[&str] = &["banner.js", "banner.css", LARGEST_PACK];

/// Stands for the largest (gzipped) text pack in `banner/`: a visitor
/// fetches at most one, and the budget counts the worst case.
const LARGEST_PACK: &str = "banner/*.json";

/// Every file some budget measures, once, in budget order.
fn budget_files() -> Vec<&'static str> {
    let mut files: Vec<&str> = Vec::new();
    for f in BUDGETS.iter().flat_map(|(_, files, _, _)| files.iter().copied()) {
        if !files.contains(&f) {
            files.push(f);
        }
    }
    files
}

const BANNER_REQUIRED: &[&str] = &["ktra.js", "banner.js", "banner.css"];

/// `target/web`, absolute.
pub fn web_dir() -> PathBuf {
    target_dir().join("web")
}

/// Builds everything; any missing source or failing tool is an error naming it.
pub fn build() -> Result<PathBuf> {
    let dir = web_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut failed = Vec::new();
    type Step = fn(&Path) -> Result<()>;
    let steps: [(&str, Step); 3] = [("pixel", build_pixel), ("banner", build_banner), ("dashboard", copy_dashboard)];
    for (name, step) in steps {
        println!("[web] {name}");
        if let Err(e) = step(&dir) {
            eprintln!("[web] {name} FAILED: {e:#}");
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        bail!("web assets incomplete: {} failed (see above)", failed.join(", "));
    }
    precompress(&dir)?;
    println!("[web] built into {}", dir.display());
    Ok(dir)
}

/// Writes `.gz` (level 9) and `.br` (quality 11) beside every text and wasm
/// asset, so the collector serves the smallest encoding without compressing
/// per request.
fn precompress(dir: &Path) -> Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "js" | "css" | "wasm" | "html" | "svg" | "json") {
                continue;
            }
            let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            std::fs::write(format!("{}.gz", path.display()), gzip(&data)?)?;
            std::fs::write(format!("{}.br", path.display()), brotli(&data)?)?;
        }
    }
    Ok(())
}

fn build_pixel(web: &Path) -> Result<()> {
    let root = root();
    // Never leave a stale pixel behind to be served or measured.
    let out = web.join("pixel");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("cleaning {}", out.display()))?;
    }
    proc::run(
        "cargo build -p ktra-pixel (wasm32, wasm-release)",
        proc::command(cargo(), &root).args([
            "build",
            "-p",
            "ktra-pixel",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "wasm-release",
        ]),
    )
    .context("the pixel crate (pixel-wasm/) does not build for wasm32")?;
    let wasm = target_dir().join("wasm32-unknown-unknown/wasm-release/ktra_pixel.wasm");
    if !wasm.exists() {
        bail!("{} missing after the build (is ktra-pixel a cdylib?)", wasm.display());
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    // Panic messages and their source paths can never be read (see
    // scrub.rs): zeroed here, dropped by wasm-opt's memory packing.
    let mut bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let zeroed = crate::scrub::panic_data(&mut bytes)?;
    println!("[web] pixel: {zeroed} bytes of panic-message data zeroed");
    let wasm = target_dir().join("ktra_pixel.scrubbed.wasm");
    std::fs::write(&wasm, &bytes).with_context(|| format!("writing {}", wasm.display()))?;
    // No wasm-bindgen step: the module's one import is its own JS host's
    // (see pixel-wasm/src/abi.rs).
    proc::run(
        "wasm-opt",
        proc::command(install::wasm_opt(), &root)
            .args([
                "-Oz",
                // Whole-program flow analysis, then -Oz again: 40 B more off.
                "--gufa",
                "-Oz",
                "--enable-bulk-memory",
                "--enable-sign-ext",
                "--enable-nontrapping-float-to-int",
                "--enable-mutable-globals",
                "--enable-reference-types",
                "--enable-multivalue",
                "--strip-debug",
                "--strip-producers",
                "--strip-target-features",
                // rustc exports `__heap_base` and `__data_end` for tools;
                // nothing reads them here.
                "--remove-exports=__*",
                // rustc places data at 1 MiB: the low 1 KiB is never used.
                "--low-memory-unused",
                "--converge",
                "-o",
            ])
            .arg(out.join("ktra_pixel_bg.wasm"))
            .arg(&wasm),
    )?;
    // host.js's constants come from the Rust definitions, as `--define`s
    // esbuild inlines. `--bundle` (of one file) for tree shaking.
    let defines: Vec<String> =
        ktra_pixel::abi::js_defines().into_iter().map(|(name, value)| format!("--define:{name}={value}")).collect();
    let mut args = vec!["--format=esm", "--bundle"];
    args.extend(defines.iter().map(String::as_str));
    let host_js = out.join("ktra_pixel.js");
    esbuild(&root.join("pixel-wasm/src/web/host.js"), &host_js, &args)?;
    undefined_constants(&host_js)
}

/// Fails when the built host still names a build-time constant: one that
/// `js_defines` does not define would be a `ReferenceError` in the page.
fn undefined_constants(host_js: &Path) -> Result<()> {
    let built = std::fs::read_to_string(host_js).with_context(|| format!("reading {}", host_js.display()))?;
    let defines = ktra_pixel::abi::js_defines();
    let spaces: std::collections::BTreeSet<&str> =
        defines.iter().filter_map(|(name, _)| Some(name.split_once('.')?.0)).collect();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    for space in spaces {
        let mut from = 0;
        while let Some(i) = built[from..].find(&format!("{space}.")).map(|i| i + from) {
            from = i + 1;
            if i > 0 && (is_ident(built.as_bytes()[i - 1]) || built.as_bytes()[i - 1] == b'.') {
                continue; // part of another name
            }
            let rest = &built[i + space.len() + 1..];
            let name = &rest[..rest.bytes().position(|b| !is_ident(b)).unwrap_or(rest.len())];
            bail!("{} uses {space}.{name}, which ktra_pixel::abi::js_defines does not define", host_js.display());
        }
    }
    Ok(())
}

fn esbuild(input: &Path, output: &Path, extra: &[&str]) -> Result<()> {
    // esbuild refuses to overwrite its input: go through a temporary file.
    let tmp = output.with_extension(format!("{}.tmp", output.extension().and_then(|e| e.to_str()).unwrap_or("out")));
    proc::run(
        &format!("esbuild {}", input.display()),
        proc::command(install::esbuild(), &root())
            .arg(input)
            .arg("--minify")
            .arg("--log-level=warning")
            .args(extra)
            .arg(format!("--outfile={}", tmp.display())),
    )?;
    std::fs::rename(&tmp, output).with_context(|| format!("moving {} to {}", tmp.display(), output.display()))
}

fn build_banner(web: &Path) -> Result<()> {
    let src = root().join("consent-banner");
    // Remove earlier outputs first, so a failed build leaves nothing stale.
    for entry in std::fs::read_dir(web).with_context(|| format!("reading {}", web.display()))? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str());
        if path.is_file() && matches!(ext, Some("js" | "css")) {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let missing: Vec<&str> = BANNER_REQUIRED.iter().copied().filter(|f| !src.join(f).is_file()).collect();
    if !missing.is_empty() {
        bail!("{} lacks {}", src.display(), missing.join(", "));
    }
    let (english, packs) = build_text_packs(&src.join("texts"), &web.join("banner"))?;
    // esbuild hoists a defined object into a top-level `var`: in a classic
    // script that would be a global of the page, so the banner gets an IIFE.
    let banner_args = [
        format!("--define:TEXTS_EN={english}"),
        format!("--define:TEXT_PACKS={}", serde_json::json!(packs)),
        "--format=iife".to_string(),
    ];
    let banner_args: Vec<&str> = banner_args.iter().map(String::as_str).collect();
    let entries = std::fs::read_dir(&src).with_context(|| format!("reading {}", src.display()))?;
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let is_asset = name.ends_with(".js") || name.ends_with(".css");
        let is_test = name.contains(".test.") || name.contains(".spec.");
        if path.is_file() && is_asset && !is_test {
            esbuild(&path, &web.join(name), if name == "banner.js" { &banner_args } else { &[] })?;
        }
    }
    Ok(())
}

/// The banner's texts in `texts_dir` (`<lang>.json`, each a flat object of
/// strings with exactly the keys of `en.json`): writes every language but
/// English compact to `out/<lang>.json`; returns English as written (its
/// key order is the order `text_hash` hashes in) and the other languages.
fn build_text_packs(texts_dir: &Path, out: &Path) -> Result<(String, Vec<String>)> {
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("cleaning {}", out.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let read = |lang: &str| -> Result<(String, serde_json::Map<String, serde_json::Value>)> {
        let path = texts_dir.join(format!("{lang}.json"));
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let texts: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).with_context(|| format!("{} is not a JSON object", path.display()))?;
        if let Some((key, _)) = texts.iter().find(|(_, v)| !v.is_string()) {
            bail!("{}: {key} is not a string", path.display());
        }
        Ok((text, texts))
    };
    let (english, en) = read("en")?;
    let mut packs = Vec::new();
    for entry in std::fs::read_dir(texts_dir).with_context(|| format!("reading {}", texts_dir.display()))? {
        let path = entry?.path();
        let Some(lang) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        if lang == "en" {
            continue;
        }
        // The name goes into a URL the banner fetches: a plain language tag.
        if !(2..=8).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
            bail!("{}: a text pack is named by its lower-case language tag", path.display());
        }
        let (_, pack) = read(lang)?;
        if !pack.keys().eq(en.keys()) {
            bail!("{} has other keys than en.json", path.display());
        }
        let compact = serde_json::to_string(&pack)?;
        std::fs::write(out.join(format!("{lang}.json")), compact).with_context(|| format!("writing {lang}.json"))?;
        packs.push(lang.to_string());
    }
    packs.sort();
    Ok((english.trim().to_string(), packs))
}

fn copy_dashboard(web: &Path) -> Result<()> {
    let src = root().join("web-demo/dashboard");
    let dst = web.join("dashboard");
    if dst.exists() {
        std::fs::remove_dir_all(&dst).with_context(|| format!("cleaning {}", dst.display()))?;
    }
    if !src.is_dir() {
        println!("[web] {} does not exist yet; no dashboard assets", src.display());
        return Ok(());
    }
    copy_dir(&src, &dst)
}

fn copy_dir(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to)
                .with_context(|| format!("copying {} to {}", entry.path().display(), to.display()))?;
        }
    }
    Ok(())
}

/// gzip -9 (flate2, best): what `.gz` beside an asset holds and what the budgets measure.
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(data)?;
    Ok(gz.finish()?)
}

/// Brotli, quality 11, window 2^22: what `.br` beside an asset holds (the
/// collector serves it to clients that accept `br`).
fn brotli(data: &[u8]) -> Result<Vec<u8>> {
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 11, 22);
        w.write_all(data)?;
    }
    Ok(br)
}

/// Raw, gzip-9 and brotli size of a file; for [`LARGEST_PACK`], of the
/// largest gzipped text pack (none at all is an error).
fn sizes(path: &Path) -> Result<(u64, u64, u64)> {
    if path.ends_with(LARGEST_PACK) {
        let dir = path.parent().and_then(Path::parent).map(|web| web.join("banner")).unwrap_or_default();
        let mut largest = None;
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                largest = largest.max(Some(file_sizes(&path)?).map(|(raw, gz, br)| (gz, raw, br)));
            }
        }
        let (gz, raw, br) = largest.with_context(|| format!("no text pack in {}", dir.display()))?;
        return Ok((raw, gz, br));
    }
    file_sizes(path)
}

/// Raw, gzip-9 and brotli size of one file.
fn file_sizes(path: &Path) -> Result<(u64, u64, u64)> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok((data.len() as u64, gzip(&data)?.len() as u64, brotli(&data)?.len() as u64))
}

/// One budget line: label, raw bytes, gzipped bytes, budget; `None` sizes when files are missing.
pub struct BudgetLine {
    /// What is measured.
    pub label: &'static str,
    /// Raw and gzipped sum, or the error when a file is missing.
    pub sizes: Result<(u64, u64), String>,
    /// Brotli sum (what clients that accept `br` download), when measured.
    pub brotli: Option<u64>,
    /// Gzipped product target in bytes.
    pub target: u64,
    /// Gzipped hard limit in bytes (the test fails above it).
    pub budget: u64,
}

impl BudgetLine {
    /// Whether the assets exist and fit the hard limit.
    pub fn ok(&self) -> bool {
        matches!(self.sizes, Ok((_, gz)) if gz <= self.budget)
    }

    /// Whether the assets exist and meet the product target.
    pub fn meets_target(&self) -> bool {
        matches!(self.sizes, Ok((_, gz)) if gz <= self.target)
    }
}

/// Measures every budget group in `dir`.
pub fn measure(dir: &Path) -> Vec<BudgetLine> {
    BUDGETS
        .iter()
        .map(|(label, files, target, budget)| {
            let all = files.iter().try_fold((0, 0, 0), |(raw, gz, br), f| {
                let (r, g, b) = sizes(&dir.join(f)).map_err(|e| format!("{e:#}"))?;
                Ok((raw + r, gz + g, br + b))
            });
            let brotli = all.as_ref().ok().map(|(_, _, br)| *br);
            let sizes = all.map(|(raw, gz, _)| (raw, gz));
            BudgetLine { label, sizes, brotli, target: *target, budget: *budget }
        })
        .collect()
}

/// Prints every file's size and the budget table.
pub fn print_sizes(dir: &Path) {
    println!("{:<36} {:>9} {:>9} {:>9}", "file", "raw B", "gzip-9 B", "brotli B");
    let mut files: Vec<String> = Vec::new();
    for f in budget_files() {
        if f == LARGEST_PACK {
            // Every pack, so that the largest one the budgets count is seen among them.
            let packs = std::fs::read_dir(dir.join("banner")).into_iter().flatten().flatten();
            let mut packs: Vec<String> = packs
                .filter_map(|e| e.file_name().to_str().filter(|n| n.ends_with(".json")).map(|n| format!("banner/{n}")))
                .collect();
            packs.sort();
            files.extend(if packs.is_empty() { vec![f.to_string()] } else { packs });
        } else {
            files.push(f.to_string());
        }
    }
    for f in files {
        match sizes(&dir.join(&f)) {
            Ok((raw, gz, br)) => println!("{f:<36} {raw:>9} {gz:>9} {br:>9}"),
            Err(_) => println!("{f:<36} {:>9} {:>9} {:>9}", "missing", "-", "-"),
        }
    }
    print_budgets(&measure(dir));
}

/// Prints the budget table for measured lines.
pub fn print_budgets(lines: &[BudgetLine]) {
    println!(
        "{:<52} {:>9} {:>9} {:>9} {:>9} {:>9}  result (gzip-9 against target and limit)",
        "budget", "raw B", "gzip-9 B", "brotli B", "target B", "limit B"
    );
    for l in lines {
        match &l.sizes {
            Ok((raw, gz)) => {
                let verdict = if !l.ok() {
                    "OVER THE LIMIT".to_string()
                } else if l.meets_target() {
                    "ok".to_string()
                } else {
                    format!("within limit; target missed by {} B", gz - l.target)
                };
                let br = l.brotli.map_or("-".to_string(), |b| b.to_string());
                println!("{:<52} {raw:>9} {gz:>9} {br:>9} {:>9} {:>9}  {verdict}", l.label, l.target, l.budget)
            }
            Err(e) => {
                println!(
                    "{:<52} {:>9} {:>9} {:>9} {:>9} {:>9}  MISSING ({e})",
                    l.label, "-", "-", "-", l.target, l.budget
                )
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_budget_has_its_own_bench_key() {
        // `cargo xtask bench` files each line under its label's first word.
        let keys: Vec<&str> = BUDGETS.iter().map(|(label, ..)| label.split_whitespace().next().unwrap_or("")).collect();
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "duplicate keys in {keys:?}");
    }

    #[test]
    fn groups_add_up_their_files_and_a_missing_one_is_reported() {
        let dir = std::env::temp_dir().join(format!("ktra-web-budgets-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pixel")).unwrap();
        std::fs::create_dir_all(dir.join("banner")).unwrap();
        let files = budget_files();
        for (i, f) in files.iter().enumerate().filter(|(_, f)| **f != LARGEST_PACK) {
            // Different sizes and contents, so that a sum taken over the wrong files shows.
            std::fs::write(dir.join(f), format!("{f} {}", "x".repeat(100 * (i + 1)))).unwrap();
        }
        // Two packs: the budgets count the one larger once gzipped, not the longer one.
        let digits: String = (0..300u32).map(|i| char::from(b'0' + (i * 7919 % 10) as u8)).collect();
        std::fs::write(dir.join("banner/de.json"), format!("{{\"t\":\"{}\"}}", "a".repeat(2000))).unwrap();
        std::fs::write(dir.join("banner/fr.json"), format!("{{\"t\":\"{digits}\"}}")).unwrap();
        let fr = file_sizes(&dir.join("banner/fr.json")).unwrap();
        assert!(fr.1 > file_sizes(&dir.join("banner/de.json")).unwrap().1 && fr.0 < 2000);
        let each: std::collections::HashMap<&str, (u64, u64, u64)> = files
            .iter()
            .map(|f| (*f, if *f == LARGEST_PACK { fr } else { file_sizes(&dir.join(f)).unwrap() }))
            .collect();
        for line in measure(&dir) {
            let (_, parts, ..) = BUDGETS.iter().find(|(label, ..)| *label == line.label).unwrap();
            let sum = |pick: fn(&(u64, u64, u64)) -> u64| parts.iter().map(|f| pick(&each[f])).sum::<u64>();
            assert_eq!(line.sizes, Ok((sum(|s| s.0), sum(|s| s.1))), "{}", line.label);
            assert_eq!(line.brotli, Some(sum(|s| s.2)), "{}", line.label);
        }
        std::fs::remove_file(dir.join("pixel/ktra_pixel.js")).unwrap();
        let lines = measure(&dir);
        let stack = lines.iter().find(|l| l.label.starts_with("stack")).unwrap();
        assert!(stack.sizes.is_err() && stack.brotli.is_none() && !stack.ok());
        assert!(lines.iter().find(|l| l.label.starts_with("loader")).unwrap().sizes.is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
