//! The Calendly API v2 client: one method per endpoint, nothing else.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use url::Url;

use crate::error::{rate_limit_reset, Error, RateLimit};
use crate::ids::{CalendlyUserUri, OrganizationUri, ScheduledEventUri, SubscriptionUri};
use crate::oauth::endpoint;
use crate::secrets::{AccessToken, SigningKey};
use crate::types::{
    Invitee, Page, Resource, ScheduledEvent, Status, SubscriptionScope, User, WebhookSubscription,
};

/// `POST /webhook_subscriptions`.
#[derive(Debug, Clone)]
pub struct CreateWebhookSubscription<'a> {
    /// The callback URL Calendly will POST deliveries to.
    pub url: String,
    /// e.g. [`crate::INVITEE_EVENTS`].
    pub events: Vec<String>,
    /// Required for every scope.
    pub organization: OrganizationUri,
    /// Required when `scope` is `User` (and must be the token's owner).
    pub user: Option<CalendlyUserUri>,
    pub scope: SubscriptionScope,
    /// Sent as a plain string; Calendly never returns it.
    pub signing_key: Option<&'a SigningKey>,
}

/// `GET /webhook_subscriptions`.
#[derive(Debug, Clone)]
pub struct ListWebhookSubscriptions {
    pub organization: OrganizationUri,
    pub scope: SubscriptionScope,
    /// Required when `scope` is `User`.
    pub user: Option<CalendlyUserUri>,
    /// 1–100 (Calendly's default is 20).
    pub count: Option<u32>,
    pub page_token: Option<String>,
}

/// `GET /scheduled_events`. `user` alone lists your own events; admins combine `organization`
/// with `user`.
#[derive(Debug, Clone, Default)]
pub struct ListScheduledEvents {
    pub user: Option<CalendlyUserUri>,
    pub organization: Option<OrganizationUri>,
    pub status: Option<Status>,
    pub min_start_time: Option<DateTime<Utc>>,
    pub max_start_time: Option<DateTime<Utc>>,
    /// `start_time:asc` or `start_time:desc`.
    pub sort: Option<String>,
    pub count: Option<u32>,
    pub page_token: Option<String>,
}

/// `GET /scheduled_events/{uuid}/invitees`.
#[derive(Debug, Clone, Default)]
pub struct ListInvitees {
    pub status: Option<Status>,
    pub count: Option<u32>,
    pub page_token: Option<String>,
}

/// The API base URL (`https://api.calendly.com`, or the simulator's) and an HTTP client.
#[derive(Debug, Clone)]
pub struct Client {
    api_base_url: Url,
    http: reqwest::Client,
}

type Query = Vec<(&'static str, String)>;

/// Calendly's query format for times: `2020-01-02T12:30:00.000000Z`.
fn format_time(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn push<T: ToString>(query: &mut Query, key: &'static str, value: Option<T>) {
    if let Some(value) = value {
        query.push((key, value.to_string()));
    }
}

impl Client {
    /// `http` should come from [`crate::http_client`] (no redirects, with a timeout).
    pub fn new(api_base_url: Url, http: reqwest::Client) -> Self {
        Client { api_base_url, http }
    }

    /// `GET /users/me` (scope `users:read`).
    #[tracing::instrument(skip_all, fields(endpoint = "GET /users/me"))]
    pub async fn get_current_user(&self, token: &AccessToken) -> Result<User, Error> {
        let wrapped: Resource<User> = self
            .request(token, Method::GET, &["users", "me"], Query::new(), None)
            .await?;
        Ok(wrapped.resource)
    }

    /// `POST /webhook_subscriptions` (scope `webhooks:write`). 409 [`Error::Conflict`] when the
    /// URL is already subscribed; 403 [`Error::is_plan_refusal`] for events the plan lacks.
    #[tracing::instrument(skip_all, fields(endpoint = "POST /webhook_subscriptions"))]
    pub async fn create_webhook_subscription(
        &self,
        token: &AccessToken,
        request: &CreateWebhookSubscription<'_>,
    ) -> Result<WebhookSubscription, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            url: &'a str,
            events: &'a [String],
            organization: &'a OrganizationUri,
            scope: &'a SubscriptionScope,
            #[serde(skip_serializing_if = "Option::is_none")]
            user: Option<&'a CalendlyUserUri>,
            #[serde(skip_serializing_if = "Option::is_none")]
            signing_key: Option<&'a str>,
        }
        let body = Body {
            url: &request.url,
            events: &request.events,
            organization: &request.organization,
            scope: &request.scope,
            user: request.user.as_ref(),
            signing_key: request.signing_key.map(SigningKey::expose_secret),
        };
        let body = serde_json::to_value(&body).map_err(|e| Error::Decode(e.to_string()))?;
        let wrapped: Resource<WebhookSubscription> = self
            .request(
                token,
                Method::POST,
                &["webhook_subscriptions"],
                Query::new(),
                Some(body),
            )
            .await?;
        Ok(wrapped.resource)
    }

    /// `GET /webhook_subscriptions` (scope `webhooks:read`).
    #[tracing::instrument(skip_all, fields(endpoint = "GET /webhook_subscriptions"))]
    pub async fn list_webhook_subscriptions(
        &self,
        token: &AccessToken,
        request: &ListWebhookSubscriptions,
    ) -> Result<Page<WebhookSubscription>, Error> {
        let mut query = vec![
            ("organization", request.organization.to_string()),
            ("scope", request.scope.to_string()),
        ];
        push(&mut query, "user", request.user.as_ref());
        push(&mut query, "count", request.count);
        push(&mut query, "page_token", request.page_token.as_ref());
        self.request_page(token, Method::GET, &["webhook_subscriptions"], query, None)
            .await
    }

    /// `GET /webhook_subscriptions/{uuid}` (scope `webhooks:read`).
    #[tracing::instrument(skip_all, fields(endpoint = "GET /webhook_subscriptions/{uuid}"))]
    pub async fn get_webhook_subscription(
        &self,
        token: &AccessToken,
        subscription: &SubscriptionUri,
    ) -> Result<WebhookSubscription, Error> {
        let path = ["webhook_subscriptions", subscription.uuid()];
        let wrapped: Resource<WebhookSubscription> = self
            .request(token, Method::GET, &path, Query::new(), None)
            .await?;
        Ok(wrapped.resource)
    }

    /// `DELETE /webhook_subscriptions/{uuid}` (scope `webhooks:write`); Calendly answers 204.
    #[tracing::instrument(skip_all, fields(endpoint = "DELETE /webhook_subscriptions/{uuid}"))]
    pub async fn delete_webhook_subscription(
        &self,
        token: &AccessToken,
        subscription: &SubscriptionUri,
    ) -> Result<(), Error> {
        let path = ["webhook_subscriptions", subscription.uuid()];
        self.request(token, Method::DELETE, &path, Query::new(), None)
            .await
    }

    /// `GET /scheduled_events` (scope `scheduled_events:read`).
    #[tracing::instrument(skip_all, fields(endpoint = "GET /scheduled_events"))]
    pub async fn list_scheduled_events(
        &self,
        token: &AccessToken,
        request: &ListScheduledEvents,
    ) -> Result<Page<ScheduledEvent>, Error> {
        let mut query = Query::new();
        push(&mut query, "user", request.user.as_ref());
        push(&mut query, "organization", request.organization.as_ref());
        push(&mut query, "status", request.status.as_ref());
        push(
            &mut query,
            "min_start_time",
            request.min_start_time.as_ref().map(format_time),
        );
        push(
            &mut query,
            "max_start_time",
            request.max_start_time.as_ref().map(format_time),
        );
        push(&mut query, "sort", request.sort.as_ref());
        push(&mut query, "count", request.count);
        push(&mut query, "page_token", request.page_token.as_ref());
        self.request_page(token, Method::GET, &["scheduled_events"], query, None)
            .await
    }

    /// `GET /scheduled_events/{uuid}` (scope `scheduled_events:read`).
    #[tracing::instrument(skip_all, fields(endpoint = "GET /scheduled_events/{uuid}"))]
    pub async fn get_scheduled_event(
        &self,
        token: &AccessToken,
        event: &ScheduledEventUri,
    ) -> Result<ScheduledEvent, Error> {
        let path = ["scheduled_events", event.uuid()];
        let wrapped: Resource<ScheduledEvent> = self
            .request(token, Method::GET, &path, Query::new(), None)
            .await?;
        Ok(wrapped.resource)
    }

    /// `GET /scheduled_events/{uuid}/invitees` (scope `scheduled_events:read`).
    #[tracing::instrument(skip_all, fields(endpoint = "GET /scheduled_events/{uuid}/invitees"))]
    pub async fn list_event_invitees(
        &self,
        token: &AccessToken,
        event: &ScheduledEventUri,
        request: &ListInvitees,
    ) -> Result<Page<Invitee>, Error> {
        let mut query = Query::new();
        push(&mut query, "status", request.status.as_ref());
        push(&mut query, "count", request.count);
        push(&mut query, "page_token", request.page_token.as_ref());
        let path = ["scheduled_events", event.uuid(), "invitees"];
        self.request_page(token, Method::GET, &path, query, None)
            .await
    }

    /// [`Client::request`] for a collection: the page also carries the rate-limit headers, so a
    /// long sync can pace itself.
    async fn request_page<T: DeserializeOwned>(
        &self,
        token: &AccessToken,
        method: Method,
        path: &[&str],
        query: Query,
        body: Option<serde_json::Value>,
    ) -> Result<Page<T>, Error> {
        let (mut page, rate_limit): (Page<T>, _) = self
            .request_with_rate(token, method, path, query, body)
            .await?;
        page.rate_limit = rate_limit;
        Ok(page)
    }

    async fn request<T: DeserializeOwned>(
        &self,
        token: &AccessToken,
        method: Method,
        path: &[&str],
        query: Query,
        body: Option<serde_json::Value>,
    ) -> Result<T, Error> {
        Ok(self
            .request_with_rate(token, method, path, query, body)
            .await?
            .0)
    }

    /// Sends one authenticated request under the API base URL and decodes the JSON answer
    /// (an empty answer, such as a 204, decodes as `null`, i.e. `()`). Any non-2xx status
    /// becomes an [`Error`] built from Calendly's `{title, message, details}` body.
    async fn request_with_rate<T: DeserializeOwned>(
        &self,
        token: &AccessToken,
        method: Method,
        path: &[&str],
        query: Query,
        body: Option<serde_json::Value>,
    ) -> Result<(T, Option<RateLimit>), Error> {
        let url = endpoint(&self.api_base_url, path);
        let mut builder = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json");
        if !query.is_empty() {
            builder = builder.query(&query);
        }
        if let Some(body) = &body {
            builder = builder.json(body);
        }
        let response = builder.send().await.map_err(|err| {
            tracing::warn!(%method, path = url.path(), error = %err, "Calendly request failed");
            Error::from(err)
        })?;
        let status = response.status();
        let reset = rate_limit_reset(response.headers());
        let rate_limit = RateLimit::from_headers(response.headers());
        let bytes = response.bytes().await?;
        if !status.is_success() {
            let error = Error::from_api_response(status.as_u16(), reset, &bytes);
            tracing::warn!(%method, path = url.path(), status = status.as_u16(), %error, "Calendly answered with an error");
            return Err(error);
        }
        tracing::debug!(%method, path = url.path(), status = status.as_u16(), "Calendly answered");
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        let value = serde_json::from_slice(bytes)
            .map_err(|err| Error::Decode(format!("{method} {}: {err}", url.path())))?;
        Ok((value, rate_limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_formatted_with_microseconds_and_z() {
        let time = Utc.with_ymd_and_hms(2020, 1, 2, 12, 30, 0).unwrap();
        assert_eq!(format_time(&time), "2020-01-02T12:30:00.000000Z");
    }
}
