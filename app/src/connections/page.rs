//! The Settings → Calendar Connections page: connect, disconnect, live-update status, sync now,
//! the delivery log and the adviser's time zone.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{connection_status, message_for_error, message_for_sync, ConnectionView};
use crate::time_zone::{SetTimeZone, TimeZoneCard};

/// `/settings/calendar`
#[component]
pub fn CalendarConnectionsPage() -> impl IntoView {
    let saved_zone = ServerAction::<SetTimeZone>::new();
    // Every time on the page is in the adviser's zone: read again when it changes.
    let status = Resource::new(move || saved_zone.version().get(), |_| connection_status());
    let query = use_query_map();
    let notice = move || {
        let q = query.read();
        if let Some(code) = q.get("error") {
            Some(("notice bad", message_for_error(&code).to_owned()))
        } else if let Some(text) =
            message_for_sync(q.get("synced").as_deref(), q.get("sync_wait").as_deref())
        {
            Some(("notice", text))
        } else if q.get("connected").is_some() {
            Some(("notice", "Calendly connected.".to_owned()))
        } else if q.get("disconnected").is_some() {
            Some((
                "notice",
                "Calendly disconnected. Past meetings stay on your Meetings page.".to_owned(),
            ))
        } else {
            None
        }
    };
    view! {
        <p class="breadcrumb">"Settings"</p>
        <h1>"Calendar Connections"</h1>
        {move || notice().map(|(class, text)| view! { <p class=class role="status">{text}</p> })}
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match status.await {
                    Ok(view) => view! { <Connection view/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
        <TimeZoneCard saved=saved_zone/>
    }
}

#[component]
fn ConnectButton(#[prop(into)] label: String) -> impl IntoView {
    view! {
        <form method="post" action="/api/calendly/connect" class="inline">
            <button type="submit">{label}</button>
        </form>
    }
}

const DISCONNECT_QUESTION: &str =
    "Disconnect Calendly? New bookings will stop appearing on your Meetings page. Past meetings are kept.";

/// Asks before disconnecting. A handler of the hydrated page, not an inline `onsubmit`
/// attribute: the Content-Security-Policy allows no inline script, so an inline handler would be
/// blocked and the form would submit without asking.
#[component]
fn DisconnectButton() -> impl IntoView {
    let confirm = move |ev: leptos::ev::SubmitEvent| {
        #[cfg(feature = "hydrate")]
        if !window()
            .confirm_with_message(DISCONNECT_QUESTION)
            .unwrap_or(false)
        {
            ev.prevent_default();
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, DISCONNECT_QUESTION);
    };
    view! {
        <form
            method="post"
            action="/api/calendly/disconnect"
            class="inline"
            on:submit=confirm
        >
            <button type="submit" class="danger">"Disconnect"</button>
        </form>
    }
}

#[component]
fn Connection(view: ConnectionView) -> impl IntoView {
    let connected = matches!(view.status.as_str(), "connected" | "needs_reconnect");
    let live_line = match (view.status.as_str(), view.live.as_str()) {
        ("needs_reconnect", _) => (
            "state-bad",
            "Paused: Calendly needs to be reconnected".to_owned(),
        ),
        (_, "active") => (
            "state-ok",
            "Active: new bookings appear within seconds".to_owned(),
        ),
        (_, "unavailable") => (
            "state-warn",
            format!(
                "Live updates unavailable: {}; syncing every {} minutes",
                view.live_reason
                    .clone()
                    .unwrap_or_else(|| "Calendly refused webhooks".into()),
                view.sync_every_minutes
            ),
        ),
        _ => ("state-warn", "Setting up…".to_owned()),
    };
    let sandbox = view.sandbox;
    view! {
        <section class="card" aria-labelledby="calendly-heading">
            <h2 id="calendly-heading">"Calendly"</h2>
            {if !connected {
                view! {
                    <p>"Connect your Calendly account so meetings booked with you appear on your Meetings page as they happen. Only your own Calendly account is connected; nobody else's is touched."</p>
                    <ConnectButton label="Connect Calendly"/>
                    {sandbox.then(|| view! {
                        <p class="hint">"Sandbox mode: Calendly is simulated. On its consent page, enter any name and email to create a test Calendly account."</p>
                    })}
                }
                .into_any()
            } else {
                view! {
                    {(view.status == "needs_reconnect").then(|| view! {
                        <p class="notice bad" role="alert">
                            "Calendly needs to be reconnected: its access was revoked or has expired. Meetings will not update until you reconnect."
                        </p>
                        <ConnectButton label="Reconnect"/>
                    })}
                    <dl class="facts">
                        <dt>"Account"</dt>
                        <dd>{view.calendly_name.clone()}</dd>
                        <dt>"Email"</dt>
                        <dd>{view.calendly_email.clone()}</dd>
                        <dt>"Connected since"</dt>
                        <dd>{view.connected_since.clone()}</dd>
                        <dt>"Live updates"</dt>
                        <dd class=live_line.0>{live_line.1}</dd>
                        <dt>"Catching up"</dt>
                        <dd>
                            {if view.live == "active" {
                                format!(
                                    "Every {} minutes the webhook subscription and any conference links still to come are checked; every {} minutes the meetings that changed in Calendly are read again",
                                    view.sync_every_minutes, view.full_sync_every_minutes
                                )
                            } else {
                                format!(
                                    "Every {} minutes the meetings that changed in Calendly are read",
                                    view.sync_every_minutes
                                )
                            }}
                        </dd>
                        <dt>"Last successful delivery"</dt>
                        <dd>{view.last_webhook.clone().unwrap_or_else(|| "None received yet".into())}</dd>
                        <dt>"Last sync"</dt>
                        <dd>
                            {match (view.last_sync.clone(), view.last_sync_result.clone()) {
                                (Some(at), Some(result)) => format!("{at} ({result})"),
                                (Some(at), None) => at,
                                _ => "Not yet".into(),
                            }}
                        </dd>
                        <dt>"Times shown in"</dt>
                        <dd>{view.timezone.clone()}</dd>
                    </dl>
                    <div class="actions">
                        {(view.status == "connected").then(|| view! {
                            <form method="post" action="/api/calendly/sync" class="inline">
                                <button type="submit" class="secondary">"Sync now"</button>
                            </form>
                        })}
                        <DisconnectButton/>
                    </div>
                }
                .into_any()
            }}
        </section>
        {(!view.recent.is_empty()).then(|| view! {
            <section class="card">
                <h2>"Recent deliveries"</h2>
                <table class="deliveries">
                    <thead><tr><th>"Time"</th><th>"Event"</th><th>"Outcome"</th></tr></thead>
                    <tbody>
                        {view.recent.iter().map(|d| view! {
                            <tr><td>{d.at.clone()}</td><td>{d.event.clone()}</td><td>{d.outcome.clone()}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        })}
    }
}
