//! `ktra-bench`: the load generator, the ceiling server and the database
//! ceiling/floor as subcommands. Each prints one JSON report line on stdout
//! (the ceiling server prints `listening on http://ADDR` and runs until
//! killed). `cargo xtask bench` runs them; they are usable by hand too.
use anyhow::{bail, Context, Result};
use ktra_benches::{ceiling, dbload, load, webhooks, workload};
use std::time::Duration;

const USAGE: &str = "usage:
  ktra-bench load --addr 127.0.0.1:PORT (--closed | --rate REQ_PER_S) [--connections 64]
                  [--events 1] [--warmup 1] [--duration 5] [--tag p00] [--path /v1/events]
                  [--secret S] [--site shop]
  ktra-bench ceiling [--listen 127.0.0.1:0]
  ktra-bench webhooks --addr 127.0.0.1:PORT --listen 127.0.0.1:PORT [--leads 300] [--rate 50]
                      [--secret S] [--site shop]
  ktra-bench db-bulk --url URL --database DB [--rows 200000] [--batch 10000] [--connections 1] [--tag db]
  ktra-bench db-per-event --url URL --database DB [--seconds 5] [--connections 4] [--tag floor]";

struct Args(Vec<String>);

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().position(|a| a == name).and_then(|i| self.0.get(i + 1)).map(String::as_str)
    }
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| anyhow::anyhow!("{name} {v:?} is not a number")),
        }
    }
    fn need(&self, name: &str) -> Result<&str> {
        self.get(name).with_context(|| format!("{name} is required\n{USAGE}"))
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

fn main() -> Result<()> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = all.first().cloned() else {
        println!("{USAGE}");
        return Ok(());
    };
    let args = Args(all[1..].to_vec());
    match cmd.as_str() {
        "load" => {
            let mode = if args.has("--closed") {
                load::Mode::Closed
            } else {
                load::Mode::Open { rate: args.num("--rate", 0.0)? }
            };
            let secret = args.get("--secret").unwrap_or(workload::SECRET);
            let site = args.get("--site").unwrap_or(workload::SITE).to_string();
            let cfg = load::LoadConfig {
                addr: args.need("--addr")?.parse().context("--addr must be IP:PORT")?,
                path: args.get("--path").unwrap_or("/v1/events").to_string(),
                connections: args.num("--connections", 64)?,
                mode,
                warmup: Duration::from_secs_f64(args.num("--warmup", 1.0)?),
                duration: Duration::from_secs_f64(args.num("--duration", 5.0)?),
                grace: Duration::from_secs_f64(args.num("--grace", 5.0)?),
                events_per_request: args.num("--events", 1)?,
                tag: args.get("--tag").unwrap_or("p00").to_string(),
                token: workload::consent_token(secret, &site),
                site,
            };
            if !cfg.addr.ip().is_loopback() {
                bail!("load goes to loopback addresses only");
            }
            let report = runtime()?.block_on(load::run(cfg))?;
            println!("{}", serde_json::to_string(&report)?);
        }
        "ceiling" => {
            let listen = args.get("--listen").unwrap_or("127.0.0.1:0").to_string();
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async move {
                let listener =
                    tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("bind {listen}"))?;
                println!("listening on http://{}", listener.local_addr()?);
                ceiling::serve(listener).await?;
                Ok::<_, anyhow::Error>(())
            })?;
        }
        "webhooks" => {
            let cfg = webhooks::Config {
                addr: args.need("--addr")?.parse().context("--addr must be IP:PORT")?,
                listen: args.need("--listen")?.parse().context("--listen must be IP:PORT")?,
                site: args.get("--site").unwrap_or(workload::SITE).to_string(),
                secret: args.get("--secret").unwrap_or(workload::SECRET).to_string(),
                leads: args.num("--leads", 300)?,
                rate: args.num("--rate", 50.0)?,
            };
            if !cfg.addr.ip().is_loopback() || !cfg.listen.ip().is_loopback() {
                bail!("webhook latency runs on loopback addresses only");
            }
            let report = runtime()?.block_on(webhooks::run(cfg))?;
            println!("{}", serde_json::to_string(&report)?);
        }
        "db-bulk" | "db-per-event" => {
            let url = args.need("--url")?.to_string();
            let db = args.need("--database")?.to_string();
            let rt = runtime()?;
            let report = rt.block_on(async {
                dbload::migrate(&url, &db).await?;
                let client = dbload::client(&url, &db);
                let report = if cmd == "db-bulk" {
                    let rows = dbload::make_rows(args.num("--rows", 200_000)?, args.get("--tag").unwrap_or("db"))?;
                    dbload::bulk(client, rows, args.num("--batch", 10_000)?, args.num("--connections", 1)?).await
                } else {
                    let seconds: f64 = args.num("--seconds", 5.0)?;
                    // More rows than any server here can take one by one in that time.
                    let rows =
                        dbload::make_rows((seconds * 5_000.0) as usize + 1_000, args.get("--tag").unwrap_or("floor"))?;
                    dbload::per_event(client, rows, Duration::from_secs_f64(seconds), args.num("--connections", 4)?)
                        .await
                };
                Ok::<_, anyhow::Error>(report)
            })?;
            println!("{}", serde_json::to_string(&report)?);
        }
        "-h" | "--help" | "help" => println!("{USAGE}"),
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
    Ok(())
}
