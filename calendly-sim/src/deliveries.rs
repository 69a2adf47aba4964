//! Webhook deliveries (calendly-api.md §0, §4–§7): build the envelope, sign it, POST it to every
//! active subscription covering the event, retry failures with exponential back-off, and
//! disable the subscription once `retry_window` passes without a success. A callback answering
//! `410 Gone` has its subscription deleted at once, without retry.
//!
//! Each subscription has one queue whose worker makes first attempts in publication order
//! (so a reschedule's `invitee.canceled` arrives before its `invitee.created`); retries run in
//! their own tasks, so one failing message never blocks the others.

use std::sync::Arc;

use axum::http::header;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::clock::{chrono_duration, timestamp};
use crate::config::SigningMode;
use crate::scheduled_events::InviteeResource;
use crate::signature::{signature_header, SIGNATURE_HEADER};
use crate::state::{State as SimState, SubscriptionRecord};
use crate::subscriptions::{CreatedWith, SubscriptionScope, SubscriptionState};
use crate::Simulator;

/// One delivery attempt, successful or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryAttempt {
    /// Subscription URI.
    pub subscription: String,
    pub callback_url: String,
    /// `invitee.created`, … .
    pub event: String,
    /// 1 for the first try, 2 for the first retry, … .
    pub attempt: u32,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why there was no usable answer (timeout, refused or dropped connection).
    pub error: Option<String>,
    /// Simulator time of the attempt.
    pub at: DateTime<Utc>,
    /// How long the receiver took to answer (or to fail).
    pub elapsed_ms: u64,
    /// The exact bytes POSTed (as text).
    pub body: String,
    /// The `Calendly-Webhook-Signature` header sent, if any.
    pub signature: Option<String>,
}

impl DeliveryAttempt {
    /// Whether the receiver answered 2xx.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Makes deliveries to matching callback URLs fail without (or instead of) reaching them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRule {
    /// Applies to callback URLs containing this text.
    pub url_contains: String,
    pub mode: FailureMode,
    /// How many attempts to fail; `None` = until `clear_failures`.
    #[serde(default)]
    pub times: Option<u32>,
}

/// In JSON: `{"status": 500}`, `"timeout"` or `"drop"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// Pretend the receiver answered with this status.
    Status(u16),
    /// Wait `delivery_timeout`, then fail as a timeout.
    Timeout,
    /// Fail at once as a dropped connection.
    Drop,
}

/// One message for one subscription.
pub(crate) struct Job {
    subscription: String,
    subscription_uri: String,
    url: String,
    event: String,
    body: Arc<str>,
    key: Option<String>,
    /// The header the first attempt sent (reused by retries when so switched).
    first_signature: Option<String>,
}

/// The webhook envelope (keys alphabetical, like real deliveries).
#[derive(Serialize)]
struct Envelope<'a> {
    created_at: String,
    created_by: String,
    event: &'a str,
    payload: &'a InviteeResource,
}

/// Queues `event` about this invitee, once, for every active subscription that covers one of
/// the event's hosts: user-scope hooks of each host (while the host is still in the hook's
/// organization), and organization-scope hooks of the event's organization or a host's.
pub(crate) fn publish(sim: &Simulator, st: &mut SimState, event: &str, invitee: &str) {
    let Some(inv) = st.invitees.get(invitee) else {
        return;
    };
    let Some(ev) = st.events.get(&inv.event) else {
        return;
    };
    let org_of = |user: &str| st.users.get(user).map(|u| u.org.as_str());
    let mut orgs: Vec<&str> = vec![ev.org.as_str()];
    orgs.extend(ev.hosts().filter_map(org_of));
    let mut targets: Vec<&SubscriptionRecord> = st
        .subscriptions
        .values()
        .filter(|s| s.state == SubscriptionState::Active && s.events.iter().any(|e| e == event))
        .filter(|s| match s.scope {
            SubscriptionScope::User => s
                .user
                .as_deref()
                .is_some_and(|user| ev.hosted_by(user) && org_of(user) == Some(s.org.as_str())),
            SubscriptionScope::Organization => orgs.contains(&s.org.as_str()),
            SubscriptionScope::Group => false,
        })
        .collect();
    if targets.is_empty() {
        return;
    }
    targets.sort_by_key(|s| s.seq);
    let payload = sim.invitee_resource(st, inv, true);
    let created_at = timestamp(&sim.now());
    let jobs: Vec<Job> = targets
        .into_iter()
        .map(|sub| {
            let envelope = Envelope {
                created_at: created_at.clone(),
                created_by: sim.uri("users", &sub.creator),
                event,
                payload: &payload,
            };
            let body = serde_json::to_string(&envelope).unwrap_or_else(|_| "{}".to_string());
            Job {
                subscription: sub.uuid.clone(),
                subscription_uri: sim.uri("webhook_subscriptions", &sub.uuid),
                url: sub.callback_url.clone(),
                event: event.to_string(),
                body: body.into(),
                key: signing_key(sim, sub),
                first_signature: None,
            }
        })
        .collect();
    for job in jobs {
        enqueue(sim, st, job);
    }
}

/// OAuth subscriptions sign with the app key (or, in `ProvidedKeyIfAny`, the key given at
/// create); PAT subscriptions sign with their own key, and are unsigned without one.
fn signing_key(sim: &Simulator, sub: &SubscriptionRecord) -> Option<String> {
    let app_key = sim.config().webhook_signing_key.clone();
    match (sub.created_with, sim.config().signing_mode) {
        (CreatedWith::OAuth, SigningMode::AppKey) => Some(app_key),
        (CreatedWith::OAuth, SigningMode::ProvidedKeyIfAny) => {
            Some(sub.signing_key.clone().unwrap_or(app_key))
        }
        (CreatedWith::Pat, _) => sub.signing_key.clone(),
    }
}

fn enqueue(sim: &Simulator, st: &mut SimState, job: Job) {
    sim.inner.pending.send_modify(|n| *n += 1);
    let sender = st
        .workers
        .entry(job.subscription.clone())
        .or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            sim.inner.runtime.spawn(first_attempts(sim.clone(), rx));
            tx
        });
    if let Err(mpsc::error::SendError(job)) = sender.send(job) {
        // The worker is gone (runtime shutting down): forget the queue and the message.
        st.workers.remove(&job.subscription);
        finish(sim);
    }
}

fn finish(sim: &Simulator) {
    sim.inner.pending.send_modify(|n| *n = n.saturating_sub(1));
}

/// The per-subscription worker: first attempts in order, failures handed to `retry`.
async fn first_attempts(sim: Simulator, mut queue: mpsc::UnboundedReceiver<Job>) {
    while let Some(mut job) = queue.recv().await {
        if !sim.subscription_active(&job.subscription) {
            finish(&sim);
            continue;
        }
        if sim.attempt(&mut job, 1).await {
            finish(&sim);
            continue;
        }
        match sim.record_failure(&job.subscription) {
            Some(deadline) => {
                sim.inner.runtime.spawn(retry(sim.clone(), job, deadline));
            }
            None => finish(&sim),
        }
    }
}

/// Retries one message with doubling delays (in simulator time) until it succeeds, the
/// subscription goes away (deleted, or answered 410) or gets disabled.
async fn retry(sim: Simulator, mut job: Job, mut deadline: DateTime<Utc>) {
    let mut delay = sim.config().retry_base;
    let mut attempt = 2;
    loop {
        let due = (sim.now() + chrono_duration(delay)).min(deadline);
        sim.sleep_until(due).await;
        if !sim.subscription_active(&job.subscription) {
            break;
        }
        if sim.attempt(&mut job, attempt).await {
            break;
        }
        match sim.record_failure(&job.subscription) {
            Some(next_deadline) => deadline = next_deadline,
            None => break,
        }
        attempt += 1;
        delay = delay.saturating_mul(2);
    }
    finish(&sim);
}

impl Simulator {
    /// Every delivery attempt so far, oldest first.
    pub fn deliveries(&self) -> Vec<DeliveryAttempt> {
        self.state().deliveries.clone()
    }

    /// Adds a failure rule (the first matching rule applies to an attempt).
    pub fn inject_failure(&self, rule: FailureRule) {
        if rule.times != Some(0) {
            self.state().failures.push(rule);
        }
    }

    /// Removes every failure rule.
    pub fn clear_failures(&self) {
        self.state().failures.clear();
    }

    fn subscription_active(&self, uuid: &str) -> bool {
        self.state()
            .subscriptions
            .get(uuid)
            .is_some_and(|s| s.state == SubscriptionState::Active)
    }

    /// Deletes a subscription whose callback answered 410 Gone (queued messages then see it
    /// is gone; no retry follows).
    fn delete_gone_subscription(&self, uuid: &str) {
        let mut st = self.state();
        if st.subscriptions.remove(uuid).is_some() {
            st.workers.remove(uuid);
            tracing::warn!(subscription = %uuid, "webhook subscription deleted: its callback answered 410 Gone");
        }
    }

    /// Notes a failed attempt. Returns the time by which retrying must have succeeded, or
    /// `None` when the subscription is gone or has just been disabled.
    fn record_failure(&self, uuid: &str) -> Option<DateTime<Utc>> {
        let now = self.now();
        let window = chrono_duration(self.config().retry_window);
        let mut st = self.state();
        let sub = st
            .subscriptions
            .get_mut(uuid)
            .filter(|s| s.state == SubscriptionState::Active)?;
        let since = match sub.failing_since {
            Some(since) => since,
            None => {
                sub.failing_since = Some(now);
                sub.retry_started_at = Some(now);
                now
            }
        };
        if now - since >= window {
            sub.state = SubscriptionState::Disabled;
            sub.updated_at = now;
            tracing::warn!(subscription = %uuid, "webhook subscription disabled after failing for the whole retry window");
            return None;
        }
        Some(since + window)
    }

    fn record_success(&self, uuid: &str) {
        if let Some(sub) = self.state().subscriptions.get_mut(uuid) {
            sub.failing_since = None;
        }
    }

    /// Sleeps until the simulator clock reaches `due`, waking early when the clock is advanced.
    async fn sleep_until(&self, due: DateTime<Utc>) {
        loop {
            let advanced = self.inner.clock.advanced().notified();
            tokio::pin!(advanced);
            advanced.as_mut().enable();
            let now = self.now();
            if now >= due {
                return;
            }
            let remaining = (due - now).to_std().unwrap_or_default();
            tokio::select! {
                _ = tokio::time::sleep(remaining) => {}
                _ = &mut advanced => {}
            }
        }
    }

    /// Takes the first failure rule matching `url`, consuming one of its `times`.
    fn take_failure(&self, url: &str) -> Option<FailureMode> {
        let mut st = self.state();
        let index = st
            .failures
            .iter()
            .position(|r| url.contains(&r.url_contains))?;
        let rule = &mut st.failures[index];
        let mode = rule.mode;
        if let Some(times) = rule.times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                st.failures.remove(index);
            }
        }
        Some(mode)
    }

    /// One POST of the job; logs it and says whether it succeeded (2xx). A 410 deletes the
    /// subscription.
    async fn attempt(&self, job: &mut Job, attempt: u32) -> bool {
        let at = self.now();
        let reuse_first = attempt > 1 && self.switches().sign_retries_at_first_attempt;
        let signature = match (&job.first_signature, reuse_first) {
            (Some(first), true) => Some(first.clone()),
            _ => job
                .key
                .as_deref()
                .map(|key| signature_header(key, at.timestamp(), job.body.as_bytes())),
        };
        if attempt == 1 {
            job.first_signature = signature.clone();
        }
        let timeout = self.config().delivery_timeout;
        let started = std::time::Instant::now();
        let (status, error) = match self.take_failure(&job.url) {
            Some(FailureMode::Status(code)) => (Some(code), None),
            Some(FailureMode::Timeout) => {
                tokio::time::sleep(timeout).await;
                (
                    None,
                    Some(format!("timed out after {timeout:?} (injected)")),
                )
            }
            Some(FailureMode::Drop) => (
                None,
                Some("connection closed before a response (injected)".to_string()),
            ),
            None => self.post(job, signature.as_deref()).await,
        };
        let record = DeliveryAttempt {
            subscription: job.subscription_uri.clone(),
            callback_url: job.url.clone(),
            event: job.event.clone(),
            attempt,
            status,
            error,
            at,
            elapsed_ms: started.elapsed().as_millis() as u64,
            body: job.body.to_string(),
            signature,
        };
        let succeeded = record.succeeded();
        let gone = record.status == Some(410);
        tracing::info!(
            subscription = %record.subscription,
            event = %record.event,
            attempt,
            status = ?record.status,
            error = ?record.error,
            "webhook delivery attempt"
        );
        self.state().deliveries.push(record);
        if succeeded {
            self.record_success(&job.subscription);
        }
        if gone {
            self.delete_gone_subscription(&job.subscription);
        }
        succeeded
    }

    async fn post(&self, job: &Job, signature: Option<&str>) -> (Option<u16>, Option<String>) {
        let mut request = self
            .inner
            .http
            .post(&job.url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(job.body.to_string());
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        match request.send().await {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(error) if error.is_timeout() => (None, Some(format!("timed out: {error}"))),
            Err(error) if error.is_connect() => (None, Some(format!("could not connect: {error}"))),
            Err(error) => (None, Some(format!("request failed: {error}"))),
        }
    }
}
