//! A small HTTP load generator for `xop serve` (std only, so CI builds it without extra
//! dependencies): N keep-alive connections, each sending `POST /v1/decide/{policy}` back to
//! back for D seconds; prints decisions per second and latency percentiles.
//!
//! ```sh
//! cargo run --release -p xop-bench --example http_load -- \
//!     --addr 127.0.0.1:8080 --policy receipt --body '{"to":{"id":"c-1","vip":false},"amount":5}' \
//!     --connections 64 --seconds 10
//! ```
//! `bench/http.sh` builds a module, starts the server and runs this.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Args {
    addr: String,
    policy: String,
    body: String,
    connections: usize,
    seconds: f64,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:8080".into(),
        policy: "receipt".into(),
        body: r#"{"to":{"id":"c-1","vip":false},"amount":5}"#.into(),
        connections: 64,
        seconds: 10.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("`{flag}` needs a value"))?;
        match flag.as_str() {
            "--addr" => a.addr = value,
            "--policy" => a.policy = value,
            "--body" => a.body = value,
            "--connections" => {
                a.connections = value.parse().map_err(|_| "--connections N".to_string())?;
            }
            "--seconds" => a.seconds = value.parse().map_err(|_| "--seconds S".to_string())?,
            _ => {
                return Err(format!(
                    "unknown `{flag}`; flags: --addr --policy --body --connections --seconds"
                ));
            }
        }
    }
    Ok(a)
}

/// One keep-alive connection: sends until `end`, returns latencies (µs) and errors.
fn connection(addr: &str, request: &[u8], end: Instant) -> Result<(Vec<u32>, u64), String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let mut line = String::new();
    let mut body = Vec::new();
    while Instant::now() < end {
        let start = Instant::now();
        writer.write_all(request).map_err(|e| e.to_string())?;
        line.clear();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let ok = line.starts_with("HTTP/1.1 200");
        let mut length = 0usize;
        loop {
            line.clear();
            reader.read_line(&mut line).map_err(|e| e.to_string())?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        body.resize(length, 0);
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        if ok {
            latencies.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
        } else {
            errors += 1;
        }
    }
    Ok((latencies, errors))
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(m) => {
            eprintln!("error: {m}");
            std::process::exit(2);
        }
    };
    let request = format!(
        "POST /v1/decide/{} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{}",
        a.policy,
        a.addr,
        a.body.len(),
        a.body
    )
    .into_bytes();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.seconds);
    let threads: Vec<_> = (0..a.connections)
        .map(|_| {
            let addr = a.addr.clone();
            let request = request.clone();
            std::thread::spawn(move || connection(&addr, &request, end))
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in threads {
        match t.join() {
            Ok(Ok((l, e))) => {
                all.extend(l);
                errors += e;
            }
            Ok(Err(m)) => {
                eprintln!("error: {m}");
                std::process::exit(1);
            }
            Err(_) => std::process::exit(1),
        }
    }
    let took = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |&us| f64::from(us) / 1000.0)
    };
    println!(
        "{} decisions in {took:.1} s over {} connections: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms, {errors} non-200",
        all.len(),
        a.connections,
        all.len() as f64 / took,
        pct(0.50),
        pct(0.99),
        pct(1.0),
    );
}
