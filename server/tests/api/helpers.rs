//! `spawn_app()` and one helper per endpoint.

use std::collections::HashMap;
use std::sync::OnceLock;

use backend::{AppState, Clock, Settings};
use calendly_sim::{SimConfig, Simulator};
use server::Application;
use sqlx::Connection;

#[derive(Clone, Copy, Debug)]
pub enum TestDb {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub clock: Clock,
    pub sim: Simulator,
    /// A browser-like client: keeps cookies (in `jar`), does not follow redirects.
    pub client: reqwest::Client,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

/// PostgreSQL for tests: `TEST_POSTGRES_URL`, default the local trust-auth server.
fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok() {
            server::telemetry::init(backend::config::LogFormat::Pretty);
        }
    });
}

async fn fresh_database(db: TestDb, dir: &std::path::Path) -> String {
    match db {
        TestDb::Sqlite => format!("sqlite://{}/test.db?mode=rwc", dir.display()),
        TestDb::Postgres => {
            let admin = postgres_admin_url();
            let name = format!("advicly_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL is not reachable (TEST_POSTGRES_URL)");
            sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await.expect("create test database");
            let (base, _) = admin.rsplit_once('/').expect("database URL has a path");
            format!("{base}/{name}")
        }
    }
}

pub async fn spawn_app(db: TestDb) -> TestApp {
    spawn_app_with(db, SimConfig { retry_base: std::time::Duration::from_millis(100), ..SimConfig::default() }, |_| {}).await
}

/// Starts a simulator and the real server wired to it. `tweak` may change environment variables.
pub async fn spawn_app_with(db: TestDb, sim_config: SimConfig, tweak: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    init_logs();
    let sim = Simulator::start(sim_config).await.expect("start the Calendly simulator");
    let dir = std::env::temp_dir().join(format!("advicly-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), fresh_database(db, &dir).await),
        ("LEPTOS_SITE_ADDR".into(), "127.0.0.1:0".into()),
        ("APP_PUBLIC_URL".into(), "http://127.0.0.1:0".into()),
        ("APP_DATA_DIR".into(), dir.display().to_string()),
        ("APP_ENCRYPTION_KEY".into(), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into()),
        ("CALENDLY_CLIENT_ID".into(), sim.config().client_id.clone()),
        ("CALENDLY_CLIENT_SECRET".into(), sim.config().client_secret.clone()),
        ("CALENDLY_WEBHOOK_SIGNING_KEY".into(), sim.config().webhook_signing_key.clone()),
        ("CALENDLY_AUTH_URL".into(), sim.base_url()),
        ("CALENDLY_API_URL".into(), sim.base_url()),
    ]);
    tweak(&mut vars);
    let settings = Settings::from_lookup(|k| vars.get(k).cloned()).expect("test settings");
    let clock = Clock::default();
    let app = Application::build_with_clock(settings, clock.clone()).await.expect("build the app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp { address, state, clock, sim, client, jar }
}

/// A client that behaves like a browser tab: cookie jar, no automatic redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// Calls a server function the way the hydrated page does (form-encoded POST).
    pub async fn server_fn(&self, name: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.server_fn_as(&self.client, name, form).await
    }

    pub async fn server_fn_as(&self, client: &reqwest::Client, name: &str, form: &[(&str, &str)]) -> reqwest::Response {
        client.post(self.url(&format!("/api/{name}"))).form(form).send().await.expect("server function call")
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> reqwest::Response {
        self.server_fn("sign_up", &[("email", email), ("password", password)]).await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.server_fn("sign_in", &[("email", email), ("password", password)]).await
    }

    pub async fn sign_out(&self) -> reqwest::Response {
        self.server_fn("sign_out", &[]).await
    }

    /// Signs up a new adviser in this app's client and returns their email.
    pub async fn signed_in_adviser(&self) -> String {
        let email = format!("adviser-{}@example.com", uuid::Uuid::new_v4().simple());
        let response = self.sign_up(&email, PASSWORD).await;
        assert!(succeeded(&response), "sign-up failed: {}", response.status());
        email
    }
}

pub const PASSWORD: &str = "correct horse battery";

/// Server functions answer success with 2xx, or 3xx when they redirect.
pub fn succeeded(response: &reqwest::Response) -> bool {
    response.status().is_success() || response.status().is_redirection()
}

pub fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all(reqwest::header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// Runs the test body once on SQLite and once on PostgreSQL, each with a fresh database.
#[macro_export]
macro_rules! on_both_databases {
    ($(#[$meta:meta])* async fn $name:ident($app:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                let $app = $crate::helpers::spawn_app($crate::helpers::TestDb::Sqlite).await;
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                let $app = $crate::helpers::spawn_app($crate::helpers::TestDb::Postgres).await;
                $body
            }
        }
    };
}
