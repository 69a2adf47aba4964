use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;

use std::collections::HashSet;

use super::live::{use_live_meetings, LiveState};
use super::notify::{announce, new_bookings, page_hidden, Alerts, NotifyToggle};
use super::{list_meetings, MeetingView, MeetingsView};

/// What the page's URL asks for: `?show=all|upcoming|past|canceled&q=…&page=N`.
#[derive(Clone, Debug, PartialEq)]
struct Listing {
    show: String,
    q: String,
    page: i64,
}

impl Listing {
    /// The URL of this listing (what the filter links and pager point to).
    fn href(show: &str, q: &str, page: i64) -> String {
        let mut params = Vec::new();
        if show != "all" {
            params.push(format!("show={show}"));
        }
        if !q.is_empty() {
            params.push(format!("q={}", encode(q)));
        }
        if page > 0 {
            params.push(format!("page={page}"));
        }
        if params.is_empty() {
            "/meetings".to_owned()
        } else {
            format!("/meetings?{}", params.join("&"))
        }
    }
}

/// Percent-encodes a query value (enough for names and emails; everything else escaped).
fn encode(raw: &str) -> String {
    let mut out = String::new();
    for b in raw.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `/meetings`
#[component]
pub fn MeetingsPage() -> impl IntoView {
    let query = use_query_map();
    let listing = Memo::new(move |_| {
        let q = query.read();
        Listing {
            show: q.get("show").unwrap_or_else(|| "all".into()),
            q: q.get("q").unwrap_or_default(),
            page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0),
        }
    });
    let meetings = Resource::new(
        move || listing.get(),
        |l| list_meetings(Some(l.show), Some(l.q), Some(l.page)),
    );
    let live = use_live_meetings(move || meetings.refetch());
    let alerts = RwSignal::new(Alerts::Unsupported);
    // The upcoming meetings last shown for this listing: a change that adds one while the page
    // is in the background is announced (if the adviser turned notifications on).
    let seen: StoredValue<Option<(Listing, HashSet<i64>)>> = StoredValue::new(None);
    Effect::new(move |_| {
        let Some(Ok(view)) = meetings.get() else {
            return;
        };
        let shown = listing.get_untracked();
        let fresh: Vec<&MeetingView> = seen.with_value(|before| match before {
            Some((l, ids)) if *l == shown => new_bookings(ids, &view.upcoming),
            _ => Vec::new(),
        });
        if alerts.get_untracked() == Alerts::On && page_hidden() {
            announce(&fresh);
        }
        let ids = view.upcoming.iter().map(|m| m.id).collect();
        seen.set_value(Some((shown, ids)));
    });
    view! {
        <div class="page-head">
            <h1>"Meetings"</h1>
            <NotifyToggle alerts/>
            <p class=move || if live.get() == LiveState::Live { "live on" } else { "live off" } aria-live="polite">
                {move || match live.get() {
                    LiveState::Live => "Live",
                    LiveState::Connecting => "Connecting…",
                    LiveState::Reconnecting => "Reconnecting… (changes will catch up)",
                }}
            </p>
        </div>
        <Filters listing/>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match meetings.await {
                    Ok(view) => view! { <Meetings view/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Search and the upcoming / past / canceled filter: a GET form, so it works before the page
/// is interactive and every view has its own URL.
#[component]
fn Filters(listing: Memo<Listing>) -> impl IntoView {
    // Worded so that "Canceled" on the page is only ever a canceled meeting's tag.
    let choices = [
        ("all", "All meetings"),
        ("upcoming", "Upcoming meetings"),
        ("past", "Past meetings"),
        ("canceled", "Cancellations"),
    ];
    view! {
        <Form method="get" action="/meetings" attr:class="filters" attr:role="search">
            <label for="meeting-search">"Search invitees"</label>
            <input
                id="meeting-search"
                type="search"
                name="q"
                placeholder="Name or email"
                maxlength="100"
                value=listing.get_untracked().q
                prop:value=move || listing.get().q
            />
            <label for="meeting-show">"Show"</label>
            <select id="meeting-show" name="show">
                {choices.into_iter().map(|(value, label)| view! {
                    <option value=value selected=move || listing.get().show == value>{label}</option>
                }).collect_view()}
            </select>
            <button type="submit" class="secondary">"Search"</button>
            {move || {
                let l = listing.get();
                (!l.q.is_empty() || l.show != "all").then(|| view! { <A href="/meetings">"Clear"</A> })
            }}
        </Form>
    }
}

#[component]
fn Meetings(view: MeetingsView) -> impl IntoView {
    let filtered = !view.search.is_empty() || view.show != "all";
    let nothing = view.upcoming.is_empty() && view.past.is_empty() && view.canceled.is_empty();
    let connected = view.connection == "connected";
    let q = view.search.clone();
    let count = |n: i64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let (list, total) = match view.show.as_str() {
        "upcoming" => (view.upcoming.clone(), view.upcoming_total),
        "past" => (view.past.clone(), view.past_total),
        "canceled" => (view.canceled.clone(), view.canceled_total),
        _ => (Vec::new(), 0),
    };
    let heading = match view.show.as_str() {
        "upcoming" => "Upcoming",
        "past" => "Past",
        "canceled" => "Cancellations",
        _ => "",
    };
    view! {
        {(view.connection == "needs_reconnect").then(|| view! {
            <p class="notice bad" role="alert">
                "Calendly needs to be reconnected, so new bookings are not arriving. "
                <A href="/settings/calendar">"Reconnect Calendly"</A>
            </p>
        })}
        {(nothing && filtered).then(|| view! {
            <div class="empty">
                <p>{if view.search.is_empty() {
                    "No meetings to show here.".to_owned()
                } else {
                    format!("No meetings with an invitee matching “{}”.", view.search)
                }}</p>
            </div>
        })}
        {(nothing && !filtered && !connected).then(|| view! {
            <div class="empty">
                <p>"No meetings yet."</p>
                <p>"Connect your Calendly account and meetings booked with you will appear here as they happen."</p>
                <A href="/settings/calendar">"Set up your Calendly connection"</A>
            </div>
        })}
        {(nothing && !filtered && connected).then(|| view! {
            <div class="empty">
                <p>"No meetings yet. When someone books with you in Calendly, the meeting appears here within seconds."</p>
            </div>
        })}
        {(view.show == "all" && !view.upcoming.is_empty()).then(|| view! {
            <FirstOf heading="Upcoming" show="upcoming" q=q.clone() meetings=view.upcoming.clone() total=view.upcoming_total/>
        })}
        {(view.show == "all" && !view.past.is_empty()).then(|| view! {
            <FirstOf heading="Past" show="past" q=q.clone() meetings=view.past.clone() total=view.past_total/>
        })}
        {(view.show != "all" && !list.is_empty()).then(|| {
            let first = view.page * view.page_size + 1;
            let last = first + list.len() as i64 - 1;
            let show = view.show.clone();
            let q = q.clone();
            let page = view.page;
            view! {
                <h2>{heading} " " <span class="count">{format!("({})", count(total, "meeting", "meetings"))}</span></h2>
                <p class="hint">{format!("Showing {first}–{last} of {total}")}</p>
                <ul class="meetings">{list.into_iter().map(|m| view! { <Meeting m/> }).collect_view()}</ul>
                <nav class="pager" aria-label="Pages">
                    {(page > 0).then(|| view! { <A href=Listing::href(&show, &q, page - 1)>"Previous page"</A> })}
                    {(last < total).then(|| view! { <A href=Listing::href(&show, &q, page + 1)>"Next page"</A> })}
                </nav>
            }
        })}
        <p class="hint">{format!("Times are shown in {}. ", view.timezone)}<A href="/settings/calendar">"Change"</A></p>
    }
}

/// A section of the "all" view: its first meetings, how many there are, and a link to the rest.
#[component]
fn FirstOf(
    heading: &'static str,
    show: &'static str,
    q: String,
    meetings: Vec<MeetingView>,
    total: i64,
) -> impl IntoView {
    let shown = meetings.len() as i64;
    view! {
        <h2>{heading} " " <span class="count">{format!("({total})")}</span></h2>
        <ul class="meetings">{meetings.into_iter().map(|m| view! { <Meeting m/> }).collect_view()}</ul>
        {(total > shown).then(|| view! {
            <p class="more"><A href=Listing::href(show, &q, 0)>{format!("Show all {total} {show} meetings")}</A></p>
        })}
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
                        " "
                        <A href=Listing::href("all", &i.email, 0) attr:class="history" attr:title=format!("All meetings with {}", i.name)>"History"</A>
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
