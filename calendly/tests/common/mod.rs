//! A tiny Calendly stand-in: answers every request with one canned reply and records what it got.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use url::Url;

/// What the mock received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn query_keys(&self) -> Vec<&str> {
        self.query.iter().map(|(k, _)| k.as_str()).collect()
    }

    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    pub fn form_value(&self, key: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

/// The one reply the mock gives.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: impl ToString) -> Self {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn with_body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

#[derive(Clone)]
struct MockState {
    reply: Reply,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

pub struct Mock {
    pub base: Url,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Mock {
    /// Starts the mock on a random port.
    pub async fn start(reply: Reply) -> Mock {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = MockState {
            reply,
            requests: requests.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Mock {
            base: Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
            requests,
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The single request the mock received.
    pub fn only_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(
            requests.len(),
            1,
            "expected exactly one request, got {requests:?}"
        );
        requests.into_iter().next().unwrap()
    }
}

async fn handle(
    State(state): State<MockState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    state.requests.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query,
        headers,
        body: body.to_vec(),
    });
    let mut response = (
        StatusCode::from_u16(state.reply.status).unwrap(),
        state.reply.body.clone(),
    )
        .into_response();
    for (name, value) in &state.reply.headers {
        response.headers_mut().insert(*name, value.parse().unwrap());
    }
    response
}

pub fn http() -> reqwest::Client {
    calendly::http_client(Duration::from_secs(5))
}

/// A base URL nothing listens on.
pub async fn unreachable_base() -> Url {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    Url::parse(&format!("http://127.0.0.1:{port}")).unwrap()
}

/// Reads a fixture copied from calendly-api.md.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `{collection, pagination}` around `items`, as Calendly pages look.
pub fn page(items: Vec<serde_json::Value>, next_page_token: Option<&str>) -> serde_json::Value {
    let count = items.len();
    serde_json::json!({
        "collection": items,
        "pagination": {
            "count": count,
            "next_page": next_page_token.map(|t| format!("https://api.calendly.com/x?page_token={t}")),
            "previous_page": null,
            "next_page_token": next_page_token,
            "previous_page_token": null
        }
    })
}
