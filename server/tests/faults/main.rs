//! The fault-injection run: real server processes against the Calendly simulator (which delivers
//! signed webhooks and retries them), several advisers, thousands of bookings, cancellations,
//! reschedules and no-shows with replayed duplicates in shuffled order — while the server is
//! SIGKILLed and restarted, the database is unreachable for a while, a second instance is killed
//! too, and Calendly's API is slow and then failing during reconciliation. At the end every
//! adviser's meetings, in the database and on the Meetings page, are compared with what
//! happened at Calendly.
//!
//! `cargo test -p server --test faults` runs the short version (part of the test suite);
//! `FAULTS_DELIVERIES=10000 FAULTS_OUTAGE_SECS=30 cargo test --release -p server --test faults
//! -- --nocapture` the full one (BENCHMARKS.md).

mod instance;
mod ledger;
mod relay;
mod run;

use run::{Plan, Store};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn plan(store: Store) -> Plan {
    Plan {
        store,
        deliveries: env_or("FAULTS_DELIVERIES", 400) as usize,
        advisers: env_or("FAULTS_ADVISERS", 6) as usize,
        outage: std::time::Duration::from_secs(env_or("FAULTS_OUTAGE_SECS", 8)),
        api_delay: std::time::Duration::from_secs(env_or("FAULTS_API_DELAY_SECS", 20)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_duplicated_misstated_or_misplaced_with_two_instances_on_postgres_under_faults(
) {
    let report = run::run(plan(Store::Postgres)).await;
    println!("{report}");
    report.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_duplicated_misstated_or_misplaced_with_one_instance_on_sqlite_under_faults(
) {
    let report = run::run(plan(Store::Sqlite)).await;
    println!("{report}");
    report.assert_clean();
}
