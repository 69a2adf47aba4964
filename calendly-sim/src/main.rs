//! `calendly-sim [--addr 127.0.0.1:4010]`: runs the simulator until Ctrl-C and prints what an
//! app needs to talk to it. Credentials come from `CALENDLY_SIM_*` variables, else are random.

use std::net::SocketAddr;
use std::process::ExitCode;

use calendly_sim::{SimConfig, Simulator};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: calendly-sim [--addr 127.0.0.1:4010]";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("Runs a local Calendly (OAuth, API v2, signed webhooks).\n{USAGE}");
        return ExitCode::SUCCESS;
    }
    let addr = match parse_addr(args.into_iter()) {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match SimConfig::from_env() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let sim = match Simulator::start_on(addr, config).await {
        Ok(sim) => sim,
        Err(error) => {
            eprintln!("cannot listen on {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let c = sim.config();
    println!("Calendly simulator listening on {}", sim.base_url());
    println!("CALENDLY_AUTH_URL={}", sim.base_url());
    println!("CALENDLY_API_URL={}", sim.base_url());
    println!("CALENDLY_CLIENT_ID={}", c.client_id);
    println!("CALENDLY_CLIENT_SECRET={}", c.client_secret);
    println!("CALENDLY_WEBHOOK_SIGNING_KEY={}", c.webhook_signing_key);
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    sim.shutdown();
    ExitCode::SUCCESS
}

/// `--addr HOST:PORT` (or `--addr=HOST:PORT`), else `CALENDLY_SIM_ADDR`, else 127.0.0.1:4010.
fn parse_addr(mut args: impl Iterator<Item = String>) -> Result<SocketAddr, String> {
    let mut raw = std::env::var("CALENDLY_SIM_ADDR")
        .ok()
        .filter(|v| !v.is_empty());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => raw = Some(args.next().ok_or("--addr needs a value")?),
            other => match other.strip_prefix("--addr=") {
                Some(value) => raw = Some(value.to_string()),
                None => return Err(format!("unknown argument {other:?}")),
            },
        }
    }
    let raw = raw.unwrap_or_else(|| "127.0.0.1:4010".into());
    raw.parse()
        .map_err(|_| format!("{raw:?} is not an address like 127.0.0.1:4010"))
}
