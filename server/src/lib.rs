//! The Advicly server as a library, so tests and benchmarks start the real thing on port 0.

pub mod assets;
pub mod csp;
pub mod middleware;
pub mod routes;
pub mod sandbox;
pub mod serve;
pub mod server_state;
pub mod startup;
pub mod telemetry;

pub use startup::Application;
