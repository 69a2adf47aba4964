use axum::http::StatusCode;
use calendly_sim::{CreatedWith, Plan, Role, SimConfig, UniquenessKey};
use serde_json::{json, Value};

use crate::helpers::*;

const INVITEE_EVENTS: [&str; 2] = ["invitee.created", "invitee.canceled"];

#[tokio::test]
async fn creating_returns_201_with_the_twelve_documented_keys_and_no_signing_key() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let tokens = app.connect(&dana, ALL_SCOPES).await;
    let body = json!({
        "url": "https://hooks.example.com/calendly", "events": INVITEE_EVENTS, "organization": dana.organization,
        "user": dana.uri, "scope": "user", "signing_key": "my-own-key",
    });

    let (status, _, body) = app
        .post_json("/webhook_subscriptions", &tokens.access, &body)
        .await;

    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sub = body["resource"].as_object().unwrap();
    let mut keys: Vec<&str> = sub.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "callback_url",
            "created_at",
            "creator",
            "events",
            "group",
            "organization",
            "retry_started_at",
            "scope",
            "state",
            "updated_at",
            "uri",
            "user"
        ]
    );
    assert!(sub["uri"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/webhook_subscriptions/", app.sim.base_url())));
    assert_eq!(sub["callback_url"], "https://hooks.example.com/calendly");
    assert_eq!(sub["state"], "active");
    assert_eq!(sub["scope"], "user");
    assert_eq!(sub["user"], json!(dana.uri));
    assert_eq!(sub["creator"], json!(dana.uri));
    assert_eq!(sub["retry_started_at"], Value::Null);
    assert_eq!(sub["group"], Value::Null);
    assert_eq!(sub["events"], json!(INVITEE_EVENTS));

    let view = &app.sim.subscriptions()[0];
    assert!(view.signing_key_given);
    assert_eq!(view.created_with, CreatedWith::OAuth);
}

#[tokio::test]
async fn missing_fields_are_listed_in_the_details() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);

    let (status, _, body) = app
        .post_json("/webhook_subscriptions", &token, &json!({}))
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["title"], "Invalid Argument");
    assert_eq!(body["message"], "The supplied parameters are invalid.");
    let params: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["parameter"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["url", "events", "organization", "scope"]);
}

#[tokio::test]
async fn user_scope_without_a_user_is_missing_the_user() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);
    let body = json!({"url": "https://h.example/x", "events": INVITEE_EVENTS, "organization": dana.organization, "scope": "user"});

    let (status, _, body) = app.post_json("/webhook_subscriptions", &token, &body).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"title": "Invalid Argument", "message": "The supplied parameters are invalid.",
               "details": [{"parameter": "user", "message": "is missing"}]})
    );
}

#[tokio::test]
async fn malformed_bodies_are_400s_not_500s() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);

    for raw in ["{not json", "[]", "\"url\""] {
        let response = app
            .http
            .post(app.url("/webhook_subscriptions"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let (status, _, body) = split(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{raw}");
        assert_eq!(body["title"], "Invalid Argument");
    }
    let body = json!({"url": "not a url", "events": ["invitee.exploded"], "organization": 5, "scope": "galaxy"});
    let (status, _, body) = app.post_json("/webhook_subscriptions", &token, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["details"].as_array().unwrap().len(), 4, "{body}");
}

#[tokio::test]
async fn free_plans_may_subscribe_to_invitee_no_show_event_type_and_contact_events() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    app.sim.set_plan(&dana.uri, Plan::Free);
    let token = app.sim.issue_personal_access_token(&dana.uri);
    let events = [
        "invitee.created",
        "invitee.canceled",
        "invitee_no_show.created",
        "invitee_no_show.deleted",
        "event_type.created",
        "event_type.updated",
        "event_type.deleted",
        "contact.created",
        "contact.updated",
        "contact.deleted",
    ];

    let (status, body) = app
        .subscribe_user(&token, &dana, "https://h.example/x", &events)
        .await;

    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["resource"]["events"], json!(events));
}

#[tokio::test]
async fn free_plans_are_refused_routing_form_and_meeting_recap_events() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    app.sim.set_plan(&dana.uri, Plan::Free);
    let tokens = app.connect(&dana, ALL_SCOPES).await;
    let refusal = json!({"title": "Permission Denied", "message": "Please upgrade to a paid Calendly account."});

    let (status, body) = app
        .subscribe_org(
            &tokens.access,
            &dana,
            "https://h.example/forms",
            &["routing_form_submission.created"],
        )
        .await;
    assert_eq!((status, &body), (StatusCode::FORBIDDEN, &refusal));

    let (status, body) = app
        .subscribe_user(
            &tokens.access,
            &dana,
            "https://h.example/recaps",
            &["invitee.created", "meeting_recap.created"],
        )
        .await;
    assert_eq!((status, &body), (StatusCode::FORBIDDEN, &refusal));
    assert!(app.sim.subscriptions().is_empty());
}

#[tokio::test]
async fn event_type_events_need_the_event_types_read_scope() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let without = app.connect(&dana, ALL_SCOPES).await;
    let with = app
        .connect(&dana, &format!("{ALL_SCOPES} event_types:read"))
        .await;
    let events = [
        "event_type.created",
        "event_type.updated",
        "event_type.deleted",
    ];

    let (status, body) = app
        .subscribe_user(&without.access, &dana, "https://h.example/types", &events)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["message"], "The supplied parameters are invalid.");

    let (status, body) = app
        .subscribe_user(&with.access, &dana, "https://h.example/types", &events)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn only_admins_and_owners_may_use_organization_scope() {
    let app = spawn_sim().await;
    let owner = app.host("Olive Owner");
    let admin = app.member(
        "Adam Admin",
        &owner.organization,
        Role::Admin,
        Plan::Standard,
    );
    let member = app.member("Mo Member", &owner.organization, Role::User, Plan::Standard);
    let member_token = app.sim.issue_personal_access_token(&member.uri);
    let admin_token = app.sim.issue_personal_access_token(&admin.uri);

    let (status, body) = app
        .subscribe_org(
            &member_token,
            &member,
            "https://h.example/org",
            &INVITEE_EVENTS,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["title"], "Permission Denied");

    let org_list = format!(
        "/webhook_subscriptions?organization={}&scope=organization",
        member.organization
    );
    assert_eq!(
        app.get(&org_list, &member_token).await.0,
        StatusCode::FORBIDDEN
    );

    let (status, _) = app
        .subscribe_org(
            &admin_token,
            &admin,
            "https://h.example/org",
            &INVITEE_EVENTS,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, body) = app.get(&org_list, &admin_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["collection"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn users_can_only_scope_subscriptions_to_themselves_in_their_own_organization() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let colleague = app.member("Col League", &dana.organization, Role::User, Plan::Standard);
    let stranger = app.host("Stra Nger");
    let token = app.sim.issue_personal_access_token(&dana.uri);

    let (status, _) = app
        .subscribe_user(&token, &colleague, "https://h.example/x", &INVITEE_EVENTS)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let body = json!({"url": "https://h.example/x", "events": INVITEE_EVENTS, "organization": stranger.organization,
                      "user": dana.uri, "scope": "user"});
    let (status, _, body) = app.post_json("/webhook_subscriptions", &token, &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], "You do not have permission");
}

#[tokio::test]
async fn one_user_cannot_reuse_a_url_but_colleagues_may_share_it_by_default() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let colleague = app.member("Col League", &dana.organization, Role::User, Plan::Standard);
    let url = "https://hooks.example.com/shared";
    let dana_token = app.sim.issue_personal_access_token(&dana.uri);
    let colleague_token = app.sim.issue_personal_access_token(&colleague.uri);

    let (status, _) = app
        .subscribe_user(&dana_token, &dana, url, &INVITEE_EVENTS)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = app
        .subscribe_user(&dana_token, &dana, url, &["invitee.canceled"])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({"title": "Already Exists", "message": "Hook with this url already exists"})
    );

    let (status, body) = app
        .subscribe_user(&colleague_token, &colleague, url, &INVITEE_EVENTS)
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "another user of the org: {body}"
    );
    let (status, _) = app
        .subscribe_org(&dana_token, &dana, url, &INVITEE_EVENTS)
        .await;
    assert_eq!(status, StatusCode::CREATED, "an org-scope hook has no user");
    let (status, _) = app
        .subscribe_org(&dana_token, &dana, url, &INVITEE_EVENTS)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "but only one of them");
}

#[tokio::test]
async fn organization_wide_uniqueness_refuses_the_same_url_anywhere_in_the_organization() {
    let app = spawn_sim_with(SimConfig {
        uniqueness: UniquenessKey::Organization,
        ..fast_config()
    })
    .await;
    let dana = app.host("Dana Host");
    let admin = app.member(
        "Adam Admin",
        &dana.organization,
        Role::Admin,
        Plan::Standard,
    );
    let other = app.host("Other Org");
    let url = "https://hooks.example.com/shared";
    let dana_token = app.sim.issue_personal_access_token(&dana.uri);

    assert_eq!(
        app.subscribe_user(&dana_token, &dana, url, &INVITEE_EVENTS)
            .await
            .0,
        StatusCode::CREATED
    );

    let (status, body) = app
        .subscribe_user(&dana_token, &dana, url, &["invitee.canceled"])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({"title": "Already Exists", "message": "Hook with this url already exists"})
    );
    let admin_token = app.sim.issue_personal_access_token(&admin.uri);
    assert_eq!(
        app.subscribe_org(&admin_token, &admin, url, &INVITEE_EVENTS)
            .await
            .0,
        StatusCode::CONFLICT
    );

    let other_token = app.sim.issue_personal_access_token(&other.uri);
    assert_eq!(
        app.subscribe_user(&other_token, &other, url, &INVITEE_EVENTS)
            .await
            .0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn per_user_uniqueness_lets_colleagues_share_a_url() {
    let app = spawn_sim_with(SimConfig {
        uniqueness: UniquenessKey::OrganizationUserScope,
        ..fast_config()
    })
    .await;
    let dana = app.host("Dana Host");
    let colleague = app.member("Col League", &dana.organization, Role::User, Plan::Standard);
    let url = "https://hooks.example.com/shared";
    let dana_token = app.sim.issue_personal_access_token(&dana.uri);
    let colleague_token = app.sim.issue_personal_access_token(&colleague.uri);

    assert_eq!(
        app.subscribe_user(&dana_token, &dana, url, &INVITEE_EVENTS)
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.subscribe_user(&colleague_token, &colleague, url, &INVITEE_EVENTS)
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        app.subscribe_user(&dana_token, &dana, url, &INVITEE_EVENTS)
            .await
            .0,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn invitee_events_without_scheduled_events_read_are_invalid_parameters() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let tokens = app.connect(&dana, "users:read webhooks:write").await;

    let (status, body) = app
        .subscribe_user(
            &tokens.access,
            &dana,
            "https://h.example/x",
            &INVITEE_EVENTS,
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], "The supplied parameters are invalid.");
}

#[tokio::test]
async fn creating_without_webhooks_write_is_an_insufficient_scope() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let tokens = app
        .connect(&dana, "users:read webhooks:read scheduled_events:read")
        .await;

    let (status, body) = app
        .subscribe_user(
            &tokens.access,
            &dana,
            "https://h.example/x",
            &INVITEE_EVENTS,
        )
        .await;

    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["title"], "Insufficient scope");
    assert_eq!(body["required_scopes"], json!(["webhooks:write"]));
    let list = format!(
        "/webhook_subscriptions?organization={}&scope=user&user={}",
        dana.organization, dana.uri
    );
    assert_eq!(
        app.get(&list, &tokens.access).await.0,
        StatusCode::OK,
        "webhooks:read lists"
    );
}

#[tokio::test]
async fn listing_requires_organization_scope_and_user() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);

    let (status, _, body) = app.get("/webhook_subscriptions?scope=user", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["details"],
        json!([{"parameter": "organization", "message": "is missing"}, {"parameter": "user", "message": "is missing"}])
    );

    let (status, _, body) = app
        .get(
            &format!("/webhook_subscriptions?organization={}", dana.organization),
            &token,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["details"],
        json!([{"parameter": "scope", "message": "is missing"}])
    );

    let bad_count = format!(
        "/webhook_subscriptions?organization={}&scope=user&user={}&count=101",
        dana.organization, dana.uri
    );
    assert_eq!(app.get(&bad_count, &token).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn listing_paginates_with_full_next_page_urls() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let token = app.sim.issue_personal_access_token(&dana.uri);
    for n in 0..5 {
        let url = format!("https://h.example/{n}");
        assert_eq!(
            app.subscribe_user(&token, &dana, &url, &INVITEE_EVENTS)
                .await
                .0,
            StatusCode::CREATED
        );
    }
    let first = format!(
        "/webhook_subscriptions?organization={}&scope=user&user={}&count=2",
        dana.organization, dana.uri
    );

    let mut urls = Vec::new();
    let mut next = Some(app.url(&first));
    let mut pages = 0;
    while let Some(page) = next {
        let (status, _, body) = app.get(&page, &token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let pagination = body["pagination"].as_object().unwrap();
        let mut keys: Vec<&str> = pagination.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "count",
                "next_page",
                "next_page_token",
                "previous_page",
                "previous_page_token"
            ]
        );
        assert_eq!(pagination["previous_page"].is_null(), pages == 0);
        urls.extend(
            body["collection"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| str_of(s, "callback_url")),
        );
        next = pagination["next_page"].as_str().map(String::from);
        if let Some(next) = &next {
            assert!(
                next.starts_with(&format!("{}/webhook_subscriptions?", app.sim.base_url())),
                "{next}"
            );
        }
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(
        urls,
        (0..5)
            .map(|n| format!("https://h.example/{n}"))
            .collect::<Vec<_>>()
    );

    let (_, _, body) = app
        .get(&format!("{first}&sort=created_at:desc"), &token)
        .await;
    assert_eq!(body["collection"][0]["callback_url"], "https://h.example/4");
    assert_eq!(body["pagination"]["count"], 2);
}

#[tokio::test]
async fn subscriptions_can_be_read_and_deleted() {
    let app = spawn_sim().await;
    let dana = app.host("Dana Host");
    let colleague = app.member("Col League", &dana.organization, Role::User, Plan::Standard);
    let token = app.sim.issue_personal_access_token(&dana.uri);
    let (_, created) = app
        .subscribe_user(&token, &dana, "https://h.example/x", &INVITEE_EVENTS)
        .await;
    let uri = str_of(&created["resource"], "uri");
    let path = uri.trim_start_matches(&app.sim.base_url()).to_string();

    let (status, _, body) = app.get(&path, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["resource"], created["resource"]);

    let colleague_token = app.sim.issue_personal_access_token(&colleague.uri);
    assert_eq!(
        app.get(&path, &colleague_token).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete(&path, &colleague_token).await.0,
        StatusCode::FORBIDDEN
    );

    let (status, body) = app.delete(&path, &token).await;
    assert_eq!((status, body.as_str()), (StatusCode::NO_CONTENT, ""));
    assert_eq!(app.get(&path, &token).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&path, &token).await.0, StatusCode::NOT_FOUND);
    assert!(app.sim.subscriptions().is_empty());
}
