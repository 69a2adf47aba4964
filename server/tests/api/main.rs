//! Black-box tests: the real server on port 0, a fresh database per test (SQLite and
//! PostgreSQL), and the Calendly simulator.

mod helpers;

mod accounts;
mod calendly_2026;
mod concurrent_deliveries;
mod connections;
mod delivery_log;
mod front_end;
mod health;
mod live;
mod meetings_list;
mod reconciliation;
mod sync_now;
mod webhooks;
