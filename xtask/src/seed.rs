//! `cargo xtask seed --url URL [--days 30] [--events N] [--site demo] [--database ktra] [--seed S]`:
//! writes a realistic month of traffic for one site straight into ClickHouse
//! as rows (not through the ingest path: millions of events in minutes):
//! visitors arriving by channel (search, direct, social, email, referral)
//! with UTM campaigns and email messages (and their `email_clicks`), reading
//! the blog, some reaching the product page, the lead form, the checkout and
//! buying (a few refunds), with scroll and engagement events, countries,
//! devices and a day/night rhythm. Deterministic for a given `--seed`.
//!
//! Migrations are applied first (rendered for the server's version by
//! `ktra-schema`, the collector's own definitions), so it also works on a
//! fresh server. `cargo xtask demo` seeds a small month into an empty demo
//! database through [`seed_if_empty`].
use anyhow::{bail, Context, Result};
use ktra_schema::migrations::{self, Deployment, ServerVersion};
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Rows per INSERT.
const BATCH: usize = 200_000;

/// The command's options.
#[derive(Debug, Clone)]
pub struct Options {
    /// ClickHouse HTTP URL.
    pub url: String,
    /// Database.
    pub database: String,
    /// Site id.
    pub site: String,
    /// Days back from now.
    pub days: u32,
    /// Events to write (about).
    pub events: u64,
    /// Seed of the generator.
    pub seed: u64,
}

impl Options {
    /// Parses `--url U --days D --events N --site S --database DB --seed S`.
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut o = Options {
            url: std::env::var("KTRA_CLICKHOUSE_URL").unwrap_or_default(),
            database: "ktra".into(),
            site: "demo".into(),
            days: 30,
            events: 100_000,
            seed: 1,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut v = || it.next().with_context(|| format!("{a} needs a value"));
            match a.as_str() {
                "--url" => o.url = v()?.clone(),
                "--database" => o.database = v()?.clone(),
                "--site" => o.site = v()?.clone(),
                "--days" => o.days = v()?.parse().context("--days")?,
                "--events" => o.events = v()?.replace('_', "").parse().context("--events")?,
                "--seed" => o.seed = v()?.parse().context("--seed")?,
                other => bail!("unknown option {other}\nusage: cargo xtask seed --url URL [--days 30] [--events N] [--site demo] [--database ktra] [--seed 1]"),
            }
        }
        if o.url.is_empty() {
            bail!("--url (or KTRA_CLICKHOUSE_URL) is required: the ClickHouse HTTP URL, e.g. from `cargo xtask clickhouse`");
        }
        if o.days == 0 || o.days > 400 || o.events == 0 {
            bail!("--days must be 1..=400 and --events positive");
        }
        if !migrations::is_identifier(&o.database)
            || !o.site.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            bail!("--database must be an identifier and --site a site id");
        }
        Ok(o)
    }
}

struct Ch {
    http: ureq::Agent,
    url: String,
}

impl Ch {
    fn new(url: &str) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build();
        Self { http: ureq::Agent::new_with_config(config), url: url.trim_end_matches('/').to_string() }
    }

    fn query(&self, db: &str, sql: &str) -> Result<String> {
        let mut r =
            self.http.post(format!("{}/?database={db}&input_format_skip_unknown_fields=1", self.url)).send(sql)?;
        let body = r.body_mut().read_to_string()?;
        match r.status().as_u16() {
            200 => Ok(body),
            s => bail!("ClickHouse answered {s}: {}", body.trim().chars().take(500).collect::<String>()),
        }
    }
}

/// Applies every migration (idempotent; "already exists" is fine).
fn migrate(ch: &Ch, db: &str) -> Result<()> {
    let version = ch.query("default", "SELECT version()")?;
    let v = ServerVersion::parse(version.trim()).with_context(|| format!("server version {version:?}"))?;
    ch.query("default", &format!("CREATE DATABASE IF NOT EXISTS {db}"))?;
    let deploy = Deployment::default();
    let mut stmts = migrations::render(migrations::MIGRATIONS_TABLE_SQL, v, &deploy);
    for m in migrations::MIGRATIONS {
        stmts.extend(migrations::render(m.sql, v, &deploy));
    }
    for s in stmts {
        if let Err(e) = ch.query(db, &s) {
            if !e.to_string().contains("already exists") {
                return Err(e.context(format!("migration: {}", s.chars().take(200).collect::<String>())));
            }
        }
    }
    Ok(())
}

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }
    /// One of `items` by weight.
    fn pick<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.below(u64::from(total)) as u32;
        for (t, w) in items {
            if x < *w {
                return t;
            }
            x -= w;
        }
        &items[0].0
    }
}

/// (channel, referrer host, utm source, utm medium, campaigns).
type Source = (&'static str, &'static str, &'static str, &'static str, &'static [&'static str]);
const SOURCES: &[(Source, u32)] = &[
    (("search", "www.google.com", "", "", &[]), 30),
    (("direct", "", "", "", &[]), 25),
    (("social", "t.co", "twitter", "social", &["launch-tweet", "podcast-autumn"]), 15),
    (("email", "", "newsletter", "email", &["autumn-collection", "course-launch"]), 15),
    (("referral", "blog.example.org", "", "", &[]), 8),
    (("paid", "www.google.com", "google", "cpc", &["brand-search"]), 7),
];
const MESSAGES: &[(&str, u32)] = &[("welcome", 3), ("autumn-news", 4), ("course-launch", 5), ("webinar-invite", 2)];
const COUNTRIES: &[(&str, u32)] = &[("DE", 30), ("US", 25), ("FR", 12), ("GB", 12), ("NL", 8), ("ES", 7), ("", 6)];
const DEVICES: &[((&str, &str, &str), u32)] = &[
    (("desktop", "Chrome", "Windows"), 35),
    (("desktop", "Firefox", "Linux"), 8),
    (("desktop", "Safari", "Mac OS X"), 12),
    (("mobile", "Mobile Safari", "iOS"), 22),
    (("mobile", "Chrome Mobile", "Android"), 18),
    (("tablet", "Mobile Safari", "iPadOS"), 5),
];
const LANDINGS: &[(&str, u32)] =
    &[("/", 30), ("/journal.html", 25), ("/landing.html", 20), ("/product.html", 15), ("/video.html", 10)];
/// Hour-of-day weights (UTC): quiet nights, busy evenings.
const HOURS: [u32; 24] = [2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 8, 8, 8, 9, 10, 10, 9, 7, 5, 3];

struct Gen<'a> {
    o: &'a Options,
    rng: Rng,
    n: u64,
    now: u32,
}

impl Gen<'_> {
    fn id(&mut self) -> String {
        let (a, b) = (self.rng.next(), self.rng.next());
        let hex = format!("{a:016x}{b:016x}");
        format!("{}-{}-4{}-8{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
    }

    /// A session start: a day of the range, an hour by weight.
    fn start(&mut self) -> u32 {
        let day = self.rng.below(u64::from(self.o.days)) as u32;
        let hours: Vec<(u32, u32)> = HOURS.iter().enumerate().map(|(h, w)| (h as u32, *w)).collect();
        let hour = *self.rng.pick(&hours);
        let midnight = (self.now / 86_400 - day) * 86_400;
        let t = midnight + hour * 3600 + self.rng.below(3600) as u32;
        t.min(self.now - 60)
    }

    /// One visitor's session(s): rows for `events` and `email_clicks`.
    fn visitor(&mut self, events: &mut Vec<Value>, clicks: &mut Vec<Value>) {
        let vid = format!("v{:x}", self.rng.next());
        let country = *self.rng.pick(COUNTRIES);
        let (device, browser, os) = *self.rng.pick(DEVICES);
        let sessions = if self.rng.chance(0.25) { 2 + self.rng.below(3) } else { 1 };
        let mut t = self.start();
        let mut lead = String::new();
        for s in 0..sessions {
            if s > 0 {
                t = (t + 3600 * (6 + self.rng.below(24 * 10)) as u32).min(self.now - 60);
            }
            let sid = format!("s{:x}", self.rng.next());
            let (channel, ref_host, usrc, umed, camps) = *self.rng.pick(SOURCES);
            let campaign = if camps.is_empty() { "" } else { camps[self.rng.below(camps.len() as u64) as usize] };
            let mut click = String::new();
            if channel == "email" {
                click = format!("ck{:x}", self.rng.next());
                if lead.is_empty() {
                    lead = format!("lead-{:x}", self.rng.below(1 << 40));
                }
                clicks.push(json!({
                    "click_id": click, "site_id": self.o.site, "lead_id": lead, "message_id": *self.rng.pick(MESSAGES),
                    "destination": "/landing.html", "clicked_at": t.saturating_sub(5), "country": country,
                    "browser": browser, "os": os, "device": device, "is_bot": 0,
                }));
            }
            let base = json!({
                "site_id": self.o.site, "visitor_id": vid, "session_id": sid, "consent_id": format!("c{vid}"),
                "host": "shop.example", "utm_source": usrc, "utm_medium": umed, "utm_campaign": campaign,
                "country": country, "device": device, "browser": browser, "os": os, "email_click_id": click,
                "lead_id": if click.is_empty() { String::new() } else { lead.clone() },
            });
            let mut ev = |g: &mut Self, at: &mut u32, kind: &str, path: &str, first: bool, extra: Value| {
                *at += 5 + g.rng.below(90) as u32;
                let at = (*at).min(g.now - 1);
                let mut r = base.clone();
                let o = r.as_object_mut().unwrap_or_else(|| unreachable!());
                o.insert("event_id".into(), g.id().into());
                o.insert("event_type".into(), kind.into());
                o.insert("ts".into(), at.into());
                o.insert("ts_ms".into(), (u64::from(at) * 1000 + g.rng.below(1000)).into());
                o.insert("received_at".into(), at.into());
                o.insert("path".into(), path.into());
                o.insert("url".into(), format!("https://shop.example{path}").into());
                let internal = !first;
                o.insert("channel".into(), (if internal && kind == "page_view" { "internal" } else { channel }).into());
                o.insert("referrer_host".into(), (if internal { "shop.example" } else { ref_host }).into());
                if let Value::Object(x) = extra {
                    o.extend(x);
                }
                events.push(r);
                g.n += 1;
            };
            let landing = if channel == "email" { "/landing.html" } else { *self.rng.pick(LANDINGS) };
            let mut pages = vec![landing];
            // The shop's way: product, signup form, checkout, thanks.
            let wants = self.rng.chance(if channel == "email" || channel == "paid" { 0.45 } else { 0.25 });
            if wants {
                pages.push("/product.html");
            }
            for _ in 0..self.rng.below(3) {
                pages.push(["/journal.html", "/", "/video.html", "/privacy.html"][self.rng.below(4) as usize]);
            }
            for (i, p) in pages.iter().enumerate() {
                ev(self, &mut t, "page_view", p, i == 0, json!({}));
                if self.rng.chance(0.6) {
                    let depth = [25, 50, 75, 90, 100][self.rng.below(5) as usize];
                    ev(self, &mut t, "scroll", p, false, json!({"scroll_depth": depth}));
                }
                let engaged = 2000 + self.rng.below(60_000);
                ev(self, &mut t, "engagement", p, false, json!({ "engaged_ms": engaged }));
                if *p == "/video.html" && self.rng.chance(0.5) {
                    ev(self, &mut t, "video_start", p, false, json!({"video_id": "intro"}));
                    if self.rng.chance(0.4) {
                        ev(
                            self,
                            &mut t,
                            "video_complete",
                            p,
                            false,
                            json!({"video_id": "intro", "video_percent": 100}),
                        );
                    }
                }
            }
            if wants && self.rng.chance(0.5) {
                ev(self, &mut t, "page_view", "/signup.html", false, json!({}));
                ev(self, &mut t, "form_submit", "/signup.html", false, json!({"form_id": "lead-form"}));
                if self.rng.chance(0.45) {
                    ev(self, &mut t, "page_view", "/checkout.html", false, json!({}));
                    ev(self, &mut t, "form_submit", "/checkout.html", false, json!({"form_id": "checkout-form"}));
                    let (product, name, value) = if self.rng.chance(0.6) {
                        ("course", "The course", 199.0)
                    } else {
                        ("ebook", "The e-book", 29.0)
                    };
                    let order = format!("o{:x}", self.rng.next());
                    let buy = json!({"order_id": order, "revenue": value, "currency": "EUR", "product_id": product, "product_name": name});
                    ev(self, &mut t, "page_view", "/thanks.html", false, json!({}));
                    ev(self, &mut t, "purchase", "/thanks.html", false, buy);
                    if self.rng.chance(0.05) {
                        let mut later = t + 86_400 * (1 + self.rng.below(5)) as u32;
                        let refund = json!({"order_id": order, "revenue": -value, "currency": "EUR", "product_id": product, "source": "server"});
                        ev(self, &mut later, "refund", "", false, refund);
                    }
                }
            }
        }
    }
}

fn insert(ch: &Ch, db: &str, table: &str, rows: &[Value]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut body = format!("INSERT INTO {table} FORMAT JSONEachRow\n").into_bytes();
    for r in rows {
        serde_json::to_writer(&mut body, r)?;
        body.push(b'\n');
    }
    let mut resp =
        ch.http.post(format!("{}/?database={db}&input_format_skip_unknown_fields=1", ch.url)).send(&body[..])?;
    let text = resp.body_mut().read_to_string()?;
    if resp.status().as_u16() != 200 {
        bail!("inserting into {table}: {}", text.trim().chars().take(500).collect::<String>());
    }
    Ok(())
}

/// Writes the traffic; returns the number of events written.
pub fn seed(o: &Options) -> Result<u64> {
    let ch = Ch::new(&o.url);
    migrate(&ch, &o.database)?;
    let now = u32::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let mut g = Gen { o, rng: Rng(o.seed), n: 0, now };
    let started = Instant::now();
    let (mut events, mut clicks) = (Vec::with_capacity(BATCH + 100), Vec::new());
    let mut written = 0u64;
    while g.n < o.events {
        g.visitor(&mut events, &mut clicks);
        if events.len() >= BATCH || g.n >= o.events {
            insert(&ch, &o.database, "events", &events)?;
            insert(&ch, &o.database, "email_clicks", &clicks)?;
            written += events.len() as u64;
            events.clear();
            clicks.clear();
            print!("\r[seed] {written} events ({:.0} s)", started.elapsed().as_secs_f64());
            let _ = std::io::stdout().flush();
        }
    }
    println!(
        "\r[seed] {written} events for site {} over {} days into {} ({:.0} s)",
        o.site,
        o.days,
        o.database,
        started.elapsed().as_secs_f64()
    );
    Ok(written)
}

/// Seeds `events` events over 30 days when the site has no events yet (the demo).
pub fn seed_if_empty(url: &str, database: &str, site: &str, events: u64) -> Result<()> {
    let ch = Ch::new(url);
    migrate(&ch, database)?;
    let n: u64 = ch
        .query(database, &format!("SELECT count() FROM events WHERE site_id = '{site}'"))?
        .trim()
        .parse()
        .unwrap_or(0);
    if n > 0 {
        return Ok(());
    }
    let o = Options { url: url.into(), database: database.into(), site: site.into(), days: 30, events, seed: 7 };
    seed(&o).map(|_| ())
}

/// `cargo xtask seed …`.
pub fn run(args: &[String]) -> Result<()> {
    seed(&Options::parse(args)?).map(|_| ())
}
