use leptos::prelude::*;
use leptos_router::components::A;

use super::live::{use_live_meetings, LiveState};
use super::{list_meetings, MeetingView, MeetingsView};

/// `/meetings`
#[component]
pub fn MeetingsPage() -> impl IntoView {
    let (past_page, set_past_page) = signal(0i64);
    let meetings = Resource::new(move || past_page.get(), list_meetings);
    let live = use_live_meetings(move || meetings.refetch());
    view! {
        <div class="page-head">
            <h1>"Meetings"</h1>
            <p class=move || if live.get() == LiveState::Live { "live on" } else { "live off" } aria-live="polite">
                {move || match live.get() {
                    LiveState::Live => "Live",
                    LiveState::Connecting => "Connecting…",
                    LiveState::Reconnecting => "Reconnecting… (changes will catch up)",
                }}
            </p>
        </div>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match meetings.await {
                    Ok(view) => view! { <Meetings view past_page set_past_page/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Meetings(
    view: MeetingsView,
    past_page: ReadSignal<i64>,
    set_past_page: WriteSignal<i64>,
) -> impl IntoView {
    let nothing = view.upcoming.is_empty() && view.past.is_empty();
    let connected = view.connection == "connected";
    view! {
        {(view.connection == "needs_reconnect").then(|| view! {
            <p class="notice bad" role="alert">
                "Calendly needs to be reconnected, so new bookings are not arriving. "
                <A href="/settings/calendar">"Reconnect Calendly"</A>
            </p>
        })}
        {(nothing && !connected).then(|| view! {
            <div class="empty">
                <p>"No meetings yet."</p>
                <p>"Connect your Calendly account and meetings booked with you will appear here as they happen."</p>
                <A href="/settings/calendar">"Set up your Calendly connection"</A>
            </div>
        })}
        {(nothing && connected).then(|| view! {
            <div class="empty">
                <p>"No meetings yet. When someone books with you in Calendly, the meeting appears here within seconds."</p>
            </div>
        })}
        {(!view.upcoming.is_empty()).then(|| view! {
            <h2>"Upcoming"</h2>
            <ul class="meetings">{view.upcoming.into_iter().map(|m| view! { <Meeting m/> }).collect_view()}</ul>
        })}
        {(!view.past.is_empty() || past_page.get_untracked() > 0).then(|| view! {
            <h2>"Past"</h2>
            <ul class="meetings">{view.past.into_iter().map(|m| view! { <Meeting m/> }).collect_view()}</ul>
            <div class="pager">
                {(past_page.get_untracked() > 0).then(|| view! {
                    <button class="secondary" on:click=move |_| set_past_page.update(|p| *p = (*p - 1).max(0))>"Newer"</button>
                })}
                {view.more_past.then(|| view! {
                    <button class="secondary" on:click=move |_| set_past_page.update(|p| *p += 1)>"Older"</button>
                })}
            </div>
        })}
        <p class="hint">{format!("Times are shown in {}.", view.timezone)}</p>
    }
}

#[component]
fn Meeting(m: MeetingView) -> impl IntoView {
    let class = if m.canceled {
        "meeting canceled"
    } else {
        "meeting"
    };
    view! {
        <li class=class data-meeting-id=m.id>
            <h3>
                <span class="title">{m.title.clone()}</span>
                {m.canceled.then(|| view! { <span class="tag canceled">"Canceled"</span> })}
                {m.rescheduled_from.is_some().then(|| view! { <span class="tag rescheduled">"Rescheduled"</span> })}
            </h3>
            <p class="when"><time datetime=m.start_iso.clone()>{m.when.clone()}</time></p>
            {m.rescheduled_from.clone().map(|from| view! { <p class="meta">{format!("Moved from {from}")}</p> })}
            {m.cancel_note.clone().map(|note| view! { <p class="meta">{note}</p> })}
            <ul class="invitees">
                {m.invitees.iter().map(|i| view! {
                    <li>
                        <span class="invitee-name">{i.name.clone()}</span>
                        " "
                        <span class="meta">{format!("<{}>", i.email)}</span>
                        {(i.canceled && !m.canceled).then(|| view! { <span class="tag canceled">"Canceled"</span> })}
                        {i.no_show.then(|| view! { <span class="tag noshow">"No-show"</span> })}
                        {(!m.canceled && (i.reschedule_url.is_some() || i.cancel_url.is_some())).then(|| view! {
                            <span class="meta invitee-links">
                                {i.reschedule_url.clone().map(|url| view! { " · " <a href=url target="_blank" rel="noopener">"Invitee's reschedule link"</a> })}
                                {i.cancel_url.clone().map(|url| view! { " · " <a href=url target="_blank" rel="noopener">"Invitee's cancel link"</a> })}
                            </span>
                        })}
                        {(!i.questions.is_empty()).then(|| view! {
                            <details>
                                <summary>"Answers"</summary>
                                <dl class="facts">
                                    {i.questions.iter().map(|(q, a)| view! { <dt>{q.clone()}</dt><dd>{a.clone()}</dd> }).collect_view()}
                                </dl>
                            </details>
                        })}
                    </li>
                }).collect_view()}
            </ul>
            {(!m.guests.is_empty()).then(|| view! {
                <p class="meta guests">{format!("Guests: {}", m.guests.join(", "))}</p>
            })}
            {m.location_details.clone().map(|d| view! { <p class="meta location-details">{d}</p> })}
            <p class="meta">
                {m.location.clone().map(|l| format!("{l} · "))}
                {(m.awaiting_link && m.join_url.is_none()).then(|| view! { <span class="awaiting-link">"Join link on its way from Calendly · "</span> })}
                {m.join_url.clone().filter(|_| !m.canceled).map(|url| view! { <a href=url target="_blank" rel="noopener">"Join link"</a> " · " })}
                {format!("From {}", m.source)}
            </p>
        </li>
    }
}
