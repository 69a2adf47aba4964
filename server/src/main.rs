//! `server`: loads the configuration, starts Advicly and serves until Ctrl-C.

use server::{telemetry, Application};

#[tokio::main]
async fn main() {
    let settings = match backend::Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("Configuration error: {err}");
            std::process::exit(2);
        }
    };
    telemetry::init(settings.log_format);
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %err, "startup failed");
            eprintln!("Startup failed: {err}");
            std::process::exit(1);
        }
    };
    if let Err(err) = app.run_until_stopped().await {
        tracing::error!(error = %err, "server stopped with an error");
        std::process::exit(1);
    }
}
