//! A started simulator, an HTTP client that never follows redirects, a webhook receiver on
//! port 0, and one helper per endpoint.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use calendly_sim::{NewUser, Plan, Role, SimConfig, SimUser, Simulator};
use hmac::{Hmac, Mac};
use reqwest::header::LOCATION;
use serde_json::{json, Value};
use sha2::Sha256;

pub const REDIRECT_URI: &str = "http://localhost:3000/auth/calendly/callback";
pub const ALL_SCOPES: &str = "users:read webhooks:write scheduled_events:read";

/// Fast retries so the retry tests finish in about a second.
pub fn fast_config() -> SimConfig {
    SimConfig {
        retry_base: Duration::from_millis(50),
        retry_window: Duration::from_secs(1),
        delivery_timeout: Duration::from_secs(2),
        ..SimConfig::default()
    }
}

pub struct TestSim {
    pub sim: Simulator,
    pub http: reqwest::Client,
}

pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

pub async fn spawn_sim() -> TestSim {
    spawn_sim_with(fast_config()).await
}

pub async fn spawn_sim_with(config: SimConfig) -> TestSim {
    let sim = Simulator::start(config).await.expect("start the simulator");
    TestSim {
        sim,
        http: client(),
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("build an HTTP client")
}

/// A browser: never follows redirects, keeps cookies (one jar per client).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("build a browser-like HTTP client")
}

impl TestSim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// A Standard-plan owner of a new organization.
    pub fn host(&self, name: &str) -> SimUser {
        self.sim.create_user(NewUser {
            name: name.into(),
            ..Default::default()
        })
    }

    /// A member of `org` with `role` and `plan`.
    pub fn member(&self, name: &str, org: &str, role: Role, plan: Plan) -> SimUser {
        self.sim.create_user(NewUser {
            name: name.into(),
            organization: Some(org.into()),
            role,
            plan,
            ..Default::default()
        })
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, HeaderMap, Value) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            self.url(path)
        };
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        split(response).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> (StatusCode, HeaderMap, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST");
        split(response).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, String) {
        let response = self
            .http
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("DELETE");
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.text().await.unwrap())
    }

    /// `POST /webhook_subscriptions` for a user-scope hook on `url`.
    pub async fn subscribe_user(
        &self,
        token: &str,
        user: &SimUser,
        url: &str,
        events: &[&str],
    ) -> (StatusCode, Value) {
        let body = json!({
            "url": url, "events": events, "organization": user.organization, "user": user.uri, "scope": "user",
        });
        let (status, _, body) = self.post_json("/webhook_subscriptions", token, &body).await;
        (status, body)
    }

    /// `POST /webhook_subscriptions` for an organization-scope hook on `url`.
    pub async fn subscribe_org(
        &self,
        token: &str,
        user: &SimUser,
        url: &str,
        events: &[&str],
    ) -> (StatusCode, Value) {
        let body = json!({ "url": url, "events": events, "organization": user.organization, "scope": "organization" });
        let (status, _, body) = self.post_json("/webhook_subscriptions", token, &body).await;
        (status, body)
    }

    /// The consent form's POST for `user` (set as the signed-in Calendly user).
    pub async fn consent(&self, user: &SimUser, params: &[(&str, &str)]) -> reqwest::Response {
        self.sim.set_consent_user(Some(&user.uri));
        self.http
            .post(self.url("/oauth/authorize"))
            .form(params)
            .send()
            .await
            .expect("POST /oauth/authorize")
    }

    /// The standard authorize parameters plus `extra`, deciding "allow".
    pub fn authorize_params<'a>(
        &'a self,
        scope: &'a str,
        extra: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut params = vec![
            ("client_id", self.sim.config().client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", scope),
            ("state", "st4te"),
            ("decision", "allow"),
        ];
        params.extend_from_slice(extra);
        params
    }

    /// Consents as `user` and returns the code from the redirect.
    pub async fn authorization_code(
        &self,
        user: &SimUser,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let response = self
            .consent(user, &self.authorize_params(scope, extra))
            .await;
        assert_eq!(response.status().as_u16(), 302);
        query_param(&location(&response), "code").expect("a code in the redirect")
    }

    /// `POST /oauth/token` with HTTP Basic client credentials and a form body.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let config = self.sim.config();
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(&config.client_id, Some(&config.client_secret))
            .form(form)
            .send()
            .await
            .expect("POST /oauth/token");
        let (status, _, body) = split(response).await;
        (status, body)
    }

    pub async fn exchange_code(&self, code: &str) -> (StatusCode, Value) {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// The whole OAuth dance for `user` with `scope`.
    pub async fn connect(&self, user: &SimUser, scope: &str) -> Tokens {
        let code = self.authorization_code(user, scope, &[]).await;
        let (status, body) = self.exchange_code(&code).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Tokens {
            access: str_of(&body, "access_token"),
            refresh: str_of(&body, "refresh_token"),
        }
    }

    /// Waits for deliveries to settle (fails the test if they do not).
    pub async fn settle(&self) {
        assert!(
            self.sim.wait_idle(Duration::from_secs(10)).await,
            "deliveries did not settle"
        );
    }
}

pub async fn split(response: reqwest::Response) -> (StatusCode, HeaderMap, Value) {
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let mut headers = HeaderMap::new();
    for (k, v) in response.headers() {
        headers.insert(k.clone(), v.clone());
    }
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, body)
}

pub fn str_of(body: &Value, key: &str) -> String {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {body}"))
        .to_string()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_string()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Asserts the keys appear in `raw` JSON text in this order.
pub fn assert_key_order(raw: &str, keys: &[&str]) {
    let mut last = 0;
    for key in keys {
        let needle = format!("\"{key}\":");
        let at = raw[last..]
            .find(&needle)
            .unwrap_or_else(|| panic!("{key} after byte {last} in {raw}"))
            + last;
        last = at + needle.len();
    }
}

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn signature(&self) -> Option<String> {
        self.headers
            .get("calendly-webhook-signature")
            .map(|v| v.to_str().unwrap().to_string())
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

/// A tiny webhook receiver on port 0 answering every POST with a settable status.
pub struct Receiver {
    pub base: String,
    state: ReceiverState,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = ReceiverState::default();
        state.status.store(200, Ordering::SeqCst);
        let app = Router::new().fallback(receive).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, state }
    }

    /// A callback URL on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn respond_with(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.received.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        headers,
        body,
    });
    StatusCode::from_u16(state.status.load(Ordering::SeqCst)).unwrap()
}

pub const ALL_EVENTS: [&str; 4] = [
    "invitee.created",
    "invitee.canceled",
    "invitee_no_show.created",
    "invitee_no_show.deleted",
];

/// Independent check of `t=…,v1=…` against the raw body (not the simulator's own code).
pub fn verify(header: &str, key: &str, body: &[u8]) -> i64 {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_string()),
            Some(("v1", value)) => v1 = Some(value.to_string()),
            _ => {}
        }
    }
    let (t, v1) = (t.expect("t"), v1.expect("v1"));
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    assert_eq!(
        hex::encode(mac.finalize().into_bytes()),
        v1,
        "signature over t.body with {key}"
    );
    t.parse().unwrap()
}

/// A host connected over OAuth with a user-scope subscription to `path` on the receiver.
pub async fn subscribed_host(app: &TestSim, receiver: &Receiver, path: &str) -> (SimUser, Tokens) {
    let host = app.host("Matt Host");
    let tokens = app.connect(&host, ALL_SCOPES).await;
    let (status, body) = app
        .subscribe_user(&tokens.access, &host, &receiver.url(path), &ALL_EVENTS)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (host, tokens)
}
