//! A real server process (the binary this package builds), started, SIGKILLed and restarted on
//! the same port, so its webhook callback URLs stay valid across restarts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub struct Instance {
    pub name: &'static str,
    pub url: String,
    env: HashMap<String, String>,
    child: Option<Child>,
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Instance {
    pub async fn start(name: &'static str, mut env: HashMap<String, String>) -> Instance {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        env.insert("LEPTOS_SITE_ADDR".into(), format!("127.0.0.1:{port}"));
        env.insert("APP_PUBLIC_URL".into(), url.clone());
        let mut instance = Instance {
            name,
            url,
            env,
            child: None,
        };
        instance.spawn().await;
        instance
    }

    async fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_server"))
            .envs(&self.env)
            .env(
                "RUST_LOG",
                std::env::var("FAULTS_APP_LOG").unwrap_or_else(|_| "error".into()),
            )
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start the server binary");
        self.child = Some(child);
        self.wait_healthy(Duration::from_secs(60)).await;
    }

    /// Waits until `/healthz` answers 200; how long that took.
    pub async fn wait_healthy(&self, max: Duration) -> Duration {
        let started = Instant::now();
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client
                .get(format!("{}/healthz", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                if r.status() == 200 {
                    return started.elapsed();
                }
            }
            assert!(
                started.elapsed() < max,
                "{} did not become healthy",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no graceful shutdown, no flushing, in-flight requests cut.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().expect("SIGKILL");
            let _ = child.wait().await;
        }
    }

    pub async fn restart(&mut self) -> Duration {
        let started = Instant::now();
        self.spawn().await;
        started.elapsed()
    }
}
