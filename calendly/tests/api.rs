//! The API client against a mock Calendly: request shapes and error mapping.

mod common;

use calendly::ids::{CalendlyUserUri, OrganizationUri, ScheduledEventUri, SubscriptionUri};
use calendly::secrets::{AccessToken, SigningKey};
use calendly::{
    Client, CreateWebhookSubscription, Error, ErrorDetail, ListInvitees, ListScheduledEvents,
    ListWebhookSubscriptions, Status, SubscriptionScope, SubscriptionState,
};
use chrono::{TimeZone, Utc};
use common::{fixture, http, page, Mock, Reply};
use serde_json::json;

const ORG: &str = "https://api.calendly.com/organizations/AAAAAAAAAAAAAAAA";
const USER: &str = "https://api.calendly.com/users/BBBBBBBBBBBBBBBB";
const EVENT: &str =
    "https://api.calendly.com/scheduled_events/5f443a67-564e-4e90-a900-b0e92c02ec25";

fn token() -> AccessToken {
    AccessToken::new("test-access-token".into())
}

fn client(mock: &Mock) -> Client {
    Client::new(mock.base.clone(), http())
}

fn subscription_json() -> serde_json::Value {
    fixture("webhook_subscription_created.json")["resource"].clone()
}

fn scheduled_event_json() -> serde_json::Value {
    fixture("invitee_created.json")["payload"]["scheduled_event"].clone()
}

fn invitee_json() -> serde_json::Value {
    let mut invitee = fixture("invitee_created.json")["payload"].clone();
    invitee.as_object_mut().unwrap().remove("scheduled_event");
    invitee
}

/// Starts a mock answering `status` with `body`, calls `get_current_user`, returns the error.
async fn error_for(reply: Reply) -> Error {
    let mock = Mock::start(reply).await;
    client(&mock).get_current_user(&token()).await.unwrap_err()
}

#[tokio::test]
async fn get_current_user_sends_the_bearer_token_to_users_me() {
    let mock = Mock::start(Reply::json(200, fixture("user_me.json"))).await;

    let user = client(&mock).get_current_user(&token()).await.unwrap();

    let request = mock.only_request();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/users/me");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer test-access-token")
    );
    assert_eq!(user.name, "Dana Host");
    assert_eq!(user.slug, "dana-host");
    assert_eq!(user.uri.uuid(), "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d");
}

#[tokio::test]
async fn creating_a_subscription_posts_the_documented_json_body() {
    let mock = Mock::start(Reply::json(
        201,
        fixture("webhook_subscription_created.json"),
    ))
    .await;
    let key = SigningKey::new("5mEzn9C-I28UtwOjZJtFoob0sAAFZ95GbZkqj4y3i0I".into());

    let subscription = client(&mock)
        .create_webhook_subscription(
            &token(),
            &CreateWebhookSubscription {
                url: "https://blah.foo/bar".into(),
                events: calendly::INVITEE_EVENTS.map(String::from).to_vec(),
                organization: OrganizationUri::parse(ORG).unwrap(),
                user: Some(CalendlyUserUri::parse(USER).unwrap()),
                scope: SubscriptionScope::User,
                signing_key: Some(&key),
            },
        )
        .await
        .unwrap();

    let request = mock.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/webhook_subscriptions");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer test-access-token")
    );
    assert!(request
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        request.json(),
        json!({
            "url": "https://blah.foo/bar",
            "events": ["invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted"],
            "organization": ORG,
            "scope": "user",
            "user": USER,
            "signing_key": "5mEzn9C-I28UtwOjZJtFoob0sAAFZ95GbZkqj4y3i0I"
        })
    );
    assert_eq!(subscription.callback_url, "https://blah.foo/bar");
    assert_eq!(subscription.state, SubscriptionState::Active);
    assert_eq!(subscription.user.unwrap().as_str(), USER);
}

#[tokio::test]
async fn an_organization_subscription_without_a_key_omits_user_and_signing_key() {
    let mock = Mock::start(Reply::json(
        201,
        fixture("webhook_subscription_created.json"),
    ))
    .await;

    client(&mock)
        .create_webhook_subscription(
            &token(),
            &CreateWebhookSubscription {
                url: "https://app.example/webhooks/calendly/abc".into(),
                events: vec!["invitee.created".into()],
                organization: OrganizationUri::parse(ORG).unwrap(),
                user: None,
                scope: SubscriptionScope::Organization,
                signing_key: None,
            },
        )
        .await
        .unwrap();

    let body = mock.only_request().json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{body}");
    assert_eq!(body["scope"], "organization");
    assert!(body.get("signing_key").is_none() && body.get("user").is_none());
}

#[tokio::test]
async fn listing_subscriptions_sends_organization_scope_and_user_and_reads_the_next_page_token() {
    let mock = Mock::start(Reply::json(
        200,
        page(vec![subscription_json()], Some("sNjq4TvM")),
    ))
    .await;

    let page = client(&mock)
        .list_webhook_subscriptions(
            &token(),
            &ListWebhookSubscriptions {
                organization: OrganizationUri::parse(ORG).unwrap(),
                scope: SubscriptionScope::User,
                user: Some(CalendlyUserUri::parse(USER).unwrap()),
                count: Some(100),
                page_token: Some("prev-token".into()),
            },
        )
        .await
        .unwrap();

    let request = mock.only_request();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/webhook_subscriptions");
    assert_eq!(request.query_value("organization"), Some(ORG));
    assert_eq!(request.query_value("scope"), Some("user"));
    assert_eq!(request.query_value("user"), Some(USER));
    assert_eq!(request.query_value("count"), Some("100"));
    assert_eq!(request.query_value("page_token"), Some("prev-token"));
    assert_eq!(page.collection.len(), 1);
    assert_eq!(page.next_page_token.as_deref(), Some("sNjq4TvM"));
}

#[tokio::test]
async fn an_organization_listing_sends_only_the_given_parameters() {
    let mock = Mock::start(Reply::json(200, page(vec![], None))).await;

    let page = client(&mock)
        .list_webhook_subscriptions(
            &token(),
            &ListWebhookSubscriptions {
                organization: OrganizationUri::parse(ORG).unwrap(),
                scope: SubscriptionScope::Organization,
                user: None,
                count: None,
                page_token: None,
            },
        )
        .await
        .unwrap();

    assert_eq!(mock.only_request().query_keys(), ["organization", "scope"]);
    assert!(page.collection.is_empty());
    assert_eq!(page.next_page_token, None);
}

#[tokio::test]
async fn a_subscription_is_fetched_under_the_api_base_whatever_host_its_uri_names() {
    let mock = Mock::start(Reply::json(
        200,
        fixture("webhook_subscription_created.json"),
    ))
    .await;
    let uri =
        SubscriptionUri::parse("https://api.calendly.com/webhook_subscriptions/AAAAAAAAAAAAAAAA")
            .unwrap();

    let subscription = client(&mock)
        .get_webhook_subscription(&token(), &uri)
        .await
        .unwrap();

    let request = mock.only_request();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/webhook_subscriptions/AAAAAAAAAAAAAAAA");
    assert_eq!(subscription.uri, uri);
}

#[tokio::test]
async fn deleting_a_subscription_accepts_204() {
    let mock = Mock::start(Reply::empty(204)).await;
    let uri =
        SubscriptionUri::parse("https://api.calendly.com/webhook_subscriptions/AAAAAAAAAAAAAAAA")
            .unwrap();

    client(&mock)
        .delete_webhook_subscription(&token(), &uri)
        .await
        .unwrap();

    let request = mock.only_request();
    assert_eq!(request.method, "DELETE");
    assert_eq!(request.path, "/webhook_subscriptions/AAAAAAAAAAAAAAAA");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer test-access-token")
    );
}

#[tokio::test]
async fn listing_scheduled_events_formats_times_with_microseconds() {
    let mock = Mock::start(Reply::json(200, page(vec![scheduled_event_json()], None))).await;

    let page = client(&mock)
        .list_scheduled_events(
            &token(),
            &ListScheduledEvents {
                user: Some(CalendlyUserUri::parse(USER).unwrap()),
                organization: Some(OrganizationUri::parse(ORG).unwrap()),
                status: Some(Status::Active),
                min_start_time: Some(Utc.with_ymd_and_hms(2020, 1, 2, 12, 30, 0).unwrap()),
                max_start_time: Some(Utc.with_ymd_and_hms(2020, 2, 1, 0, 0, 0).unwrap()),
                sort: Some("start_time:asc".into()),
                count: Some(50),
                page_token: None,
            },
        )
        .await
        .unwrap();

    let request = mock.only_request();
    assert_eq!(request.path, "/scheduled_events");
    assert_eq!(request.query_value("user"), Some(USER));
    assert_eq!(request.query_value("organization"), Some(ORG));
    assert_eq!(request.query_value("status"), Some("active"));
    assert_eq!(
        request.query_value("min_start_time"),
        Some("2020-01-02T12:30:00.000000Z")
    );
    assert_eq!(
        request.query_value("max_start_time"),
        Some("2020-02-01T00:00:00.000000Z")
    );
    assert_eq!(request.query_value("sort"), Some("start_time:asc"));
    assert_eq!(request.query_value("count"), Some("50"));
    assert_eq!(request.query_value("page_token"), None);
    assert_eq!(page.collection[0].uri.as_str(), EVENT);
    assert_eq!(page.collection[0].title(), "30 Minute Meeting");
}

#[tokio::test]
async fn getting_a_scheduled_event_reads_the_resource() {
    let mock = Mock::start(Reply::json(
        200,
        json!({ "resource": scheduled_event_json() }),
    ))
    .await;
    let uri = ScheduledEventUri::parse(EVENT).unwrap();

    let event = client(&mock)
        .get_scheduled_event(&token(), &uri)
        .await
        .unwrap();

    assert_eq!(
        mock.only_request().path,
        "/scheduled_events/5f443a67-564e-4e90-a900-b0e92c02ec25"
    );
    assert_eq!(event.uri, uri);
    assert_eq!(event.location.unwrap().kind, "google_conference");
}

#[tokio::test]
async fn listing_invitees_uses_the_event_uuid_and_the_filters() {
    let mock = Mock::start(Reply::json(200, page(vec![invitee_json()], Some("next")))).await;
    let uri = ScheduledEventUri::parse(EVENT).unwrap();

    let page = client(&mock)
        .list_event_invitees(
            &token(),
            &uri,
            &ListInvitees {
                status: Some(Status::Canceled),
                count: Some(10),
                page_token: Some("tok".into()),
            },
        )
        .await
        .unwrap();

    let request = mock.only_request();
    assert_eq!(
        request.path,
        "/scheduled_events/5f443a67-564e-4e90-a900-b0e92c02ec25/invitees"
    );
    assert_eq!(request.query_value("status"), Some("canceled"));
    assert_eq!(request.query_value("count"), Some("10"));
    assert_eq!(request.query_value("page_token"), Some("tok"));
    assert_eq!(page.collection[0].email, "jane.prospect@example.com");
    assert_eq!(page.collection[0].event, uri);
    assert_eq!(page.next_page_token.as_deref(), Some("next"));
}

#[tokio::test]
async fn a_401_maps_to_unauthorized() {
    let error = error_for(Reply::json(
        401,
        json!({"title": "Unauthenticated", "message": "The access token expired"}),
    ))
    .await;
    assert_eq!(
        error,
        Error::Unauthorized {
            message: "The access token expired".into()
        }
    );
    assert!(!error.is_transient());
}

#[tokio::test]
async fn a_403_on_a_free_plan_is_a_plan_without_webhooks() {
    let error = error_for(Reply::json(
        403,
        json!({"title": "Permission Denied", "message": "Please upgrade your Calendly account to Standard"}),
    ))
    .await;
    assert!(error.is_plan_refusal());
    assert!(!error.is_insufficient_scope());
}

#[tokio::test]
async fn a_403_for_a_missing_scope_lists_the_required_scopes() {
    let error = error_for(Reply::json(
        403,
        json!({
            "title": "Insufficient scope",
            "message": "This operation requires the scopes listed in the 'required_scopes' array.",
            "required_scopes": ["webhooks:write"]
        }),
    ))
    .await;
    assert!(error.is_insufficient_scope());
    assert!(!error.is_plan_refusal());
    let Error::Forbidden {
        title,
        required_scopes,
        ..
    } = error
    else {
        panic!("expected Forbidden, got {error:?}");
    };
    assert_eq!(title, "Insufficient scope");
    assert_eq!(required_scopes, ["webhooks:write"]);
}

#[tokio::test]
async fn a_plain_permission_denied_is_neither_plan_nor_scope() {
    let error = error_for(Reply::json(
        403,
        json!({"title": "Permission Denied", "message": "You do not have permission to access this resource."}),
    ))
    .await;
    assert!(matches!(error, Error::Forbidden { .. }));
    assert!(!error.is_plan_refusal() && !error.is_insufficient_scope());
}

#[tokio::test]
async fn a_404_maps_to_not_found() {
    let error = error_for(Reply::json(
        404,
        json!({"title": "Resource Not Found", "message": "The server could not find the requested resource."}),
    ))
    .await;
    assert_eq!(error, Error::NotFound);
}

#[tokio::test]
async fn a_409_maps_to_conflict() {
    let mock = Mock::start(Reply::json(
        409,
        json!({"title": "Already Exists", "message": "Hook with this url already exists"}),
    ))
    .await;

    let error = client(&mock)
        .create_webhook_subscription(
            &token(),
            &CreateWebhookSubscription {
                url: "https://blah.foo/bar".into(),
                events: vec!["invitee.created".into()],
                organization: OrganizationUri::parse(ORG).unwrap(),
                user: None,
                scope: SubscriptionScope::Organization,
                signing_key: None,
            },
        )
        .await
        .unwrap_err();

    assert_eq!(
        error,
        Error::Conflict {
            message: "Hook with this url already exists".into()
        }
    );
}

#[tokio::test]
async fn a_429_reads_the_reset_header() {
    let error = error_for(
        Reply::empty(429)
            .with_header("x-ratelimit-limit", "500")
            .with_header("x-ratelimit-remaining", "0")
            .with_header("x-ratelimit-reset", "17"),
    )
    .await;
    assert_eq!(error, Error::RateLimited { reset_secs: 17 });
    assert!(error.is_transient());
}

#[tokio::test]
async fn a_429_without_the_reset_header_waits_60_seconds() {
    let error = error_for(Reply::json(429, json!({"title": "Too Many Requests"}))).await;
    assert_eq!(error, Error::RateLimited { reset_secs: 60 });
}

#[tokio::test]
async fn a_400_carries_the_parameter_details() {
    let mock = Mock::start(Reply::json(
        400,
        json!({
            "title": "Invalid Argument",
            "message": "The supplied parameters are invalid.",
            "details": [{"parameter": "user", "message": "is missing"}]
        }),
    ))
    .await;

    let error = client(&mock)
        .list_webhook_subscriptions(
            &token(),
            &ListWebhookSubscriptions {
                organization: OrganizationUri::parse(ORG).unwrap(),
                scope: SubscriptionScope::User,
                user: None,
                count: None,
                page_token: None,
            },
        )
        .await
        .unwrap_err();

    assert_eq!(
        error,
        Error::InvalidArgument {
            message: "The supplied parameters are invalid.".into(),
            details: vec![ErrorDetail {
                parameter: Some("user".into()),
                message: "is missing".into(),
                code: None,
            }],
        }
    );
}

#[tokio::test]
async fn a_500_is_a_transient_server_error() {
    let error = error_for(Reply::json(
        500,
        json!({"title": "Internal Server Error", "message": "The server encountered an unexpected condition that prevented it from fulfilling the request."}),
    ))
    .await;
    assert_eq!(error, Error::Server { status: 500 });
    assert!(error.is_transient());
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_transport_error() {
    let client = Client::new(common::unreachable_base().await, http());

    let error = client.get_current_user(&token()).await.unwrap_err();

    assert!(matches!(error, Error::Transport(_)), "{error:?}");
    assert!(error.is_transient());
    assert!(!error.to_string().contains("test-access-token"));
}

#[tokio::test]
async fn a_success_with_an_unexpected_body_is_a_decode_error() {
    let error = error_for(Reply::json(200, json!({"resource": {"uri": "not a uri"}}))).await;
    assert!(matches!(error, Error::Decode(_)), "{error:?}");
    assert!(!error.is_transient());
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let mock =
        Mock::start(Reply::empty(302).with_header("location", "https://elsewhere.example/")).await;

    let error = client(&mock).get_current_user(&token()).await.unwrap_err();

    assert!(
        matches!(error, Error::UnexpectedStatus { status: 302, .. }),
        "{error:?}"
    );
    assert_eq!(mock.requests().len(), 1);
}
