//! The consent page's sign-in is bound to the browser (the `calendly_sim_session` cookie), never
//! shared: what keeps sandbox-mode advisers out of each other's Calendly test accounts.

use axum::http::StatusCode;
use calendly_sim::NewUser;
use reqwest::header::SET_COOKIE;
use serde_json::{json, Value};

use crate::helpers::*;

const REFUSED: &str = "That Calendly test account is signed in from another browser. \
Use a different email to create your own test account.";

/// `client` clicks Allow on the consent page, typing `email` (and a name) unless empty.
async fn allow(app: &TestSim, client: &reqwest::Client, email: &str) -> reqwest::Response {
    let mut params = app.authorize_params(ALL_SCOPES, &[]);
    if !email.is_empty() {
        params.extend([("name", "Someone Adviser"), ("email", email)]);
    }
    client
        .post(app.url("/oauth/authorize"))
        .form(&params)
        .send()
        .await
        .expect("POST /oauth/authorize")
}

/// The consent page as `client` sees it.
async fn page(app: &TestSim, client: &reqwest::Client) -> String {
    let params = app.authorize_params(ALL_SCOPES, &[]);
    let response = client
        .get(app.url("/oauth/authorize"))
        .query(&params[..5])
        .send()
        .await
        .expect("GET /oauth/authorize");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The Calendly user a consent redirect's code belongs to.
async fn owner_of(app: &TestSim, response: &reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::FOUND);
    let code = query_param(&location(response), "code").expect("a code");
    let (status, body) = app.exchange_code(&code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["owner"].clone()
}

fn uri_of(app: &TestSim, email: &str) -> Value {
    json!(app.sim.user_by_email(email).expect("a Calendly user").uri)
}

#[tokio::test]
async fn a_second_browser_does_not_get_the_first_browsers_account() {
    let app = spawn_sim().await;
    let (ann, bob) = (browser(), browser());
    let connected = allow(&app, &ann, "ann@example.com").await;
    assert_eq!(
        owner_of(&app, &connected).await,
        uri_of(&app, "ann@example.com")
    );

    let shown = page(&app, &bob).await;
    assert!(!shown.contains("ann@example.com"), "{shown}");
    assert!(!shown.contains("Signed in"), "{shown}");
    assert!(
        shown.contains(r#"name="name""#) && shown.contains(r#"name="email""#),
        "{shown}"
    );
    for client in [&bob, &client()] {
        let refused = allow(&app, client, "").await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(refused.headers().get("location").is_none());
        assert!(refused
            .text()
            .await
            .unwrap()
            .contains("Enter your name and email"));
    }

    let bobs = allow(&app, &bob, "bob@example.com").await;
    let bob_uri = owner_of(&app, &bobs).await;
    assert_eq!(bob_uri, uri_of(&app, "bob@example.com"));
    assert_ne!(bob_uri, uri_of(&app, "ann@example.com"));
    assert_eq!(app.sim.users().len(), 2, "two distinct test accounts");
}

#[tokio::test]
async fn typing_another_browsers_page_created_email_is_refused_and_grants_nothing() {
    let app = spawn_sim().await;
    let (ann, mallory) = (browser(), browser());
    let connected = allow(&app, &ann, "ann@example.com").await;
    assert_eq!(connected.status(), StatusCode::FOUND);

    for client in [&mallory, &client()] {
        let refused = allow(&app, client, "ANN@example.com ").await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(refused.headers().get("location").is_none());
        assert!(refused.headers().get(SET_COOKIE).is_none());
        let text = refused.text().await.unwrap();
        assert!(text.contains(REFUSED), "{text}");
        assert!(text.contains(r#"role="alert""#), "{text}");
    }
    // Nothing was granted or remembered: Mallory is still signed in as nobody.
    let shown = page(&app, &mallory).await;
    assert!(!shown.contains("ann@example.com"), "{shown}");
    let refused = allow(&app, &mallory, "").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.sim.users().len(), 1);

    // A different email gives Mallory an account of her own.
    let own = allow(&app, &mallory, "mallory@example.com").await;
    assert_eq!(
        owner_of(&app, &own).await,
        uri_of(&app, "mallory@example.com")
    );
}

#[tokio::test]
async fn the_same_browser_is_recognised_by_its_cookie() {
    let app = spawn_sim().await;
    let (ann, bob) = (browser(), browser());
    let connected = allow(&app, &ann, "ann@example.com").await;
    let cookie = connected
        .headers()
        .get(SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_string();
    let (pair, attributes) = cookie.split_once(';').unwrap();
    let token = pair.strip_prefix("calendly_sim_session=").expect(&cookie);
    assert_eq!(token.len(), 64, "32 random bytes as hex: {cookie}");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attributes.contains(attribute), "{cookie}");
    }
    let ann_uri = owner_of(&app, &connected).await;
    // Another browser signing in meanwhile changes nothing for Ann.
    let bobs = allow(&app, &bob, "bob@example.com").await;
    assert_eq!(bobs.status(), StatusCode::FOUND);

    let shown = page(&app, &ann).await;
    assert!(shown.contains("Signed in to Calendly as"), "{shown}");
    assert!(shown.contains("ann@example.com") && !shown.contains("bob@example.com"));
    let again = allow(&app, &ann, "").await;
    assert!(
        again.headers().get(SET_COOKIE).is_none(),
        "the cookie is kept"
    );
    assert_eq!(owner_of(&app, &again).await, ann_uri);
    let retyped = allow(&app, &ann, "ann@example.com").await;
    assert_eq!(owner_of(&app, &retyped).await, ann_uri);
    let shown = page(&app, &bob).await;
    assert!(shown.contains("bob@example.com") && !shown.contains("ann@example.com"));
}

#[tokio::test]
async fn an_api_created_user_can_still_be_claimed_by_email() {
    let app = spawn_sim().await;
    let created = client()
        .post(app.url("/_sim/users"))
        .json(&json!({"name": "Dana Host", "email": "dana@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let dana: Value = created.json().await.unwrap();
    assert_eq!(dana["created_from"], "program");
    let eve = app.sim.create_user(NewUser {
        name: "Eve Host".into(),
        ..Default::default()
    });
    assert_eq!(eve.created_from, calendly_sim::UserOrigin::Program);

    let first = allow(&app, &client(), "dana@example.com").await;
    assert_eq!(owner_of(&app, &first).await, dana["uri"]);
    let browser_claim = allow(&app, &browser(), "dana@example.com").await;
    assert_eq!(owner_of(&app, &browser_claim).await, dana["uri"]);
    let library_claim = allow(&app, &browser(), &eve.email).await;
    assert_eq!(owner_of(&app, &library_claim).await, json!(eve.uri));

    // Claiming signs in nobody else: a fresh browser that types nothing gets no account.
    let stranger = allow(&app, &client(), "").await;
    assert_eq!(stranger.status(), StatusCode::BAD_REQUEST);
    let page_made = allow(&app, &browser(), "sam@example.com").await;
    assert_eq!(page_made.status(), StatusCode::FOUND);
    let users = app.sim.users();
    let sam = users.iter().find(|u| u.email == "sam@example.com").unwrap();
    assert_eq!(sam.created_from, calendly_sim::UserOrigin::ConsentPage);
}

#[tokio::test]
async fn the_preset_consent_user_serves_only_browsers_without_a_session() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    app.sim.set_consent_user(Some(&dana.uri));
    let ann = browser();
    let connected = allow(&app, &ann, "ann@example.com").await;
    assert_eq!(
        owner_of(&app, &connected).await,
        uri_of(&app, "ann@example.com")
    );

    let preset = allow(&app, &client(), "").await;
    assert_eq!(owner_of(&app, &preset).await, json!(dana.uri));
    let own = allow(&app, &ann, "").await;
    assert_eq!(owner_of(&app, &own).await, uri_of(&app, "ann@example.com"));
}
