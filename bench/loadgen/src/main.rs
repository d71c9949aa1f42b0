//! `berth-loadgen`: keeps N HTTP/1.1 keep-alive connections busy with one request for a
//! fixed time and prints requests/s and latency percentiles as JSON.
//!
//! The benchmark harness uses it instead of wrk because wrk waits for a body after a
//! `HEAD` response, so it cannot measure manifest `HEAD`, and because the harness wants
//! exact percentiles and a failure count in one machine-readable line.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use futures_util::future::join_all;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Parser)]
#[command(about = "Closed-loop HTTP/1.1 load: N connections, one request, fixed duration.")]
struct Args {
    /// http://host:port/path (plain HTTP only)
    url: String,
    #[arg(short, long, default_value_t = 64)]
    connections: usize,
    /// Seconds to run.
    #[arg(short, long, default_value_t = 10.0)]
    duration: f64,
    #[arg(short = 'X', long, default_value = "GET")]
    method: String,
    /// Extra request header, "Name: value"; repeatable.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
}

struct Target {
    addr: String,
    authority: String,
    path: String,
}

fn parse_url(url: &str) -> anyhow::Result<Target> {
    let rest = url
        .strip_prefix("http://")
        .context("only http:// URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok(Target {
        addr: authority.to_string(),
        authority: authority.to_string(),
        path: path.to_string(),
    })
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    failures: u64,
}

async fn connection(
    target: &Target,
    args: &Args,
    headers: &[(String, String)],
    until: Instant,
) -> anyhow::Result<Tally> {
    let stream = TcpStream::connect(&target.addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut tally = Tally::default();
    while Instant::now() < until {
        let mut req = Request::builder()
            .method(args.method.as_str())
            .uri(target.path.as_str())
            .header("host", target.authority.as_str());
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let req = req.body(Empty::<Bytes>::new())?;
        let started = Instant::now();
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        // A redirect is an answer: a registry on S3 sends blob GETs to the store, and the
        // bytes are then the store's work.
        let ok = resp.status().is_success() || resp.status().is_redirection();
        resp.into_body().collect().await?;
        let micros = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        tally.latencies_us.push(micros);
        if !ok {
            tally.failures += 1;
        }
    }
    Ok(tally)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = parse_url(&args.url)?;
    let headers = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("header {h:?} is not \"Name: value\""))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // One thread: the generator should take as little CPU from the server as it can.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let duration = Duration::from_secs_f64(args.duration);
    let (tallies, elapsed) = rt.block_on(async {
        let started = Instant::now();
        let until = started + duration;
        let connections =
            (0..args.connections).map(|_| connection(&target, &args, &headers, until));
        let results = join_all(connections).await;
        (results, started.elapsed())
    });
    let mut all = Vec::new();
    let mut failures = 0;
    for tally in tallies {
        let tally = tally?;
        failures += tally.failures;
        all.extend(tally.latencies_us);
    }
    if all.is_empty() {
        bail!("no request completed");
    }
    all.sort_unstable();
    let report = serde_json::json!({
        "requests": all.len(),
        "failures": failures,
        "seconds": elapsed.as_secs_f64(),
        "rps": all.len() as f64 / elapsed.as_secs_f64(),
        "p50_ms": percentile(&all, 50.0),
        "p90_ms": percentile(&all, 90.0),
        "p99_ms": percentile(&all, 99.0),
        "max_ms": percentile(&all, 100.0),
    });
    println!("{report}");
    Ok(())
}
