//! The Meetings page: the adviser's meeting lists, their search, filters and pages, kept live by
//! patching in only the meetings the stream says changed.

use leptos::prelude::*;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;

use std::collections::HashSet;

use super::live::{use_live_meetings, LiveChange, LiveState};
use super::notify::{announce, new_bookings, page_hidden, Alerts, NotifyToggle};
use super::{changed_meetings, list_meetings, patch, MeetingView, MeetingsView};

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
    // What the page shows of the listing, as read or as patched since: live changes update this
    // meeting by meeting, and the lists below redraw only the meetings that changed.
    let shown: RwSignal<Option<(Listing, MeetingsView)>> = RwSignal::new(None);
    Effect::new(move |_| {
        if let Some(Ok(view)) = meetings.get() {
            shown.set(Some((listing.get_untracked(), view)));
        }
    });
    let patches = Patches::default();
    let live = use_live_meetings(move |change| {
        patches.clone().on_change(change, listing, meetings, shown)
    });
    let alerts = RwSignal::new(Alerts::Unsupported);
    // The upcoming meetings last shown for this listing: a change that adds one while the page
    // is in the background is announced (if the adviser turned notifications on).
    let seen: StoredValue<Option<(Listing, HashSet<i64>)>> = StoredValue::new(None);
    Effect::new(move |_| {
        let Some((shown_listing, view)) = shown.get() else {
            return;
        };
        let fresh: Vec<&MeetingView> = seen.with_value(|before| match before {
            Some((l, ids)) if *l == shown_listing => new_bookings(ids, &view.upcoming),
            _ => Vec::new(),
        });
        if alerts.get_untracked() == Alerts::On && page_hidden() {
            announce(&fresh);
        }
        let ids = view.upcoming.iter().map(|m| m.id).collect();
        seen.set_value(Some((shown_listing, ids)));
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
                    Ok(read) => {
                        let listed = listing.get_untracked();
                        // The read as rendered on the server, then whatever the page patched in.
                        let view = Memo::new(move |_| {
                            shown
                                .get()
                                .filter(|(l, _)| *l == listed)
                                .map(|(_, v)| v)
                                .unwrap_or_else(|| read.clone())
                        });
                        view! { <Meetings view/> }.into_any()
                    }
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Live changes, one request at a time: the changed meetings are fetched and patched in, or the
/// list is read again when a patch cannot give the exact page; changes that arrive meanwhile wait
/// and go together in the next request (so an older answer can never overwrite a newer one).
#[derive(Clone, Default)]
struct Patches {
    state: std::rc::Rc<std::cell::RefCell<PatchQueue>>,
}

#[derive(Default)]
struct PatchQueue {
    busy: bool,
    waiting: Vec<i64>,
    reread: bool,
}

type ListingResource = Resource<Result<MeetingsView, crate::error::AppError>>;

impl Patches {
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn on_change(
        self,
        change: LiveChange,
        listing: Memo<Listing>,
        meetings: ListingResource,
        shown: RwSignal<Option<(Listing, MeetingsView)>>,
    ) {
        {
            let mut q = self.state.borrow_mut();
            match change {
                LiveChange::Meetings(ids) => q.waiting.extend(ids),
                LiveChange::Anything => q.reread = true,
            }
            if q.busy {
                return;
            }
            q.busy = true;
        }
        leptos::task::spawn_local(async move {
            loop {
                let (ids, reread) = {
                    let mut q = self.state.borrow_mut();
                    if q.waiting.is_empty() && !q.reread {
                        q.busy = false;
                        return;
                    }
                    (
                        std::mem::take(&mut q.waiting),
                        std::mem::take(&mut q.reread),
                    )
                };
                let l = listing.get_untracked();
                let current = shown
                    .get_untracked()
                    .filter(|(sl, _)| *sl == l)
                    .map(|(_, v)| v);
                let patched = match current {
                    Some(_) if !reread && ids.len() <= patch::MAX_CHANGED => {
                        match changed_meetings(
                            ids.clone(),
                            Some(l.show.clone()),
                            Some(l.q.clone()),
                            Some(l.page),
                        )
                        .await
                        {
                            // The page may have moved on meanwhile: patch only what it still shows.
                            Ok(patch) if listing.get_untracked() == l => shown
                                .get_untracked()
                                .filter(|(sl, _)| *sl == l)
                                .and_then(|(_, now)| patch::apply(&now, &ids, patch)),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                let view = match patched {
                    Some(view) => Some(view),
                    // Read the whole list again, here in the queue: a change that arrives
                    // meanwhile is applied after this read, never overwritten by it.
                    None => list_meetings(Some(l.show.clone()), Some(l.q.clone()), Some(l.page))
                        .await
                        .ok(),
                };
                match view {
                    Some(view) if listing.get_untracked() == l => shown.set(Some((l, view))),
                    Some(_) => {}
                    // Could not read it (signed out, server away): let the page say why.
                    None => meetings.refetch(),
                }
            }
        });
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
fn Meetings(view: Memo<MeetingsView>) -> impl IntoView {
    // What rarely changes is read once per read of the list; the lists themselves are keyed, so a
    // live change redraws only the meetings it touched.
    let v = view.get_untracked();
    let (show, q) = (v.show.clone(), v.search.clone());
    let filtered = !q.is_empty() || show != "all";
    let nothing = Memo::new(move |_| {
        view.with(|v| v.upcoming.is_empty() && v.past.is_empty() && v.canceled.is_empty())
    });
    let connection = Memo::new(move |_| view.with(|v| v.connection.clone()));
    let search = q.clone();
    view! {
        {move || (connection.get() == "needs_reconnect").then(|| view! {
            <p class="notice bad" role="alert">
                "Calendly needs to be reconnected, so new bookings are not arriving. "
                <A href="/settings/calendar">"Reconnect Calendly"</A>
            </p>
        })}
        {move || (nothing.get() && filtered).then(|| view! {
            <div class="empty">
                <p>{if search.is_empty() {
                    "No meetings to show here.".to_owned()
                } else {
                    format!("No meetings with an invitee matching “{search}”.")
                }}</p>
            </div>
        })}
        {move || (nothing.get() && !filtered && connection.get() != "connected").then(|| view! {
            <div class="empty">
                <p>"No meetings yet."</p>
                <p>"Connect your Calendly account and meetings booked with you will appear here as they happen."</p>
                <A href="/settings/calendar">"Set up your Calendly connection"</A>
            </div>
        })}
        {move || (nothing.get() && !filtered && connection.get() == "connected").then(|| view! {
            <div class="empty">
                <p>"No meetings yet. When someone books with you in Calendly, the meeting appears here within seconds."</p>
            </div>
        })}
        {if show == "all" {
            view! {
                <FirstOf heading="Upcoming" show="upcoming" q=q.clone()
                    meetings=Memo::new(move |_| view.with(|v| v.upcoming.clone()))
                    total=Memo::new(move |_| view.with(|v| v.upcoming_total))/>
                <FirstOf heading="Past" show="past" q=q.clone()
                    meetings=Memo::new(move |_| view.with(|v| v.past.clone()))
                    total=Memo::new(move |_| view.with(|v| v.past_total))/>
            }.into_any()
        } else {
            view! { <OneList view/> }.into_any()
        }}
        <p class="hint">{move || format!("Times are shown in {}. ", view.with(|v| v.timezone.clone()))}<A href="/settings/calendar">"Change"</A></p>
    }
}

/// One list (`upcoming`, `past` or `canceled`), a page of it, with the pager.
#[component]
fn OneList(view: Memo<MeetingsView>) -> impl IntoView {
    let v = view.get_untracked();
    let (show, q, page, page_size) = (v.show.clone(), v.search.clone(), v.page, v.page_size);
    let heading = match show.as_str() {
        "upcoming" => "Upcoming",
        "past" => "Past",
        _ => "Cancellations",
    };
    let which = show.clone();
    let list = Memo::new(move |_| {
        view.with(|v| match which.as_str() {
            "upcoming" => (v.upcoming.clone(), v.upcoming_total),
            "past" => (v.past.clone(), v.past_total),
            _ => (v.canceled.clone(), v.canceled_total),
        })
    });
    let meetings = Memo::new(move |_| list.with(|(m, _)| m.clone()));
    let total = move || list.with(|(_, t)| *t);
    let shown = move || list.with(|(m, _)| m.len() as i64);
    let first = page * page_size + 1;
    view! {
        <Show when=move || { shown() > 0 }>
            <h2>{heading} " " <span class="count">{move || format!("({})", count(total(), "meeting", "meetings"))}</span></h2>
            <p class="hint">{move || format!("Showing {first}–{} of {}", first + shown() - 1, total())}</p>
            <ul class="meetings"><MeetingItems meetings/></ul>
            <nav class="pager" aria-label="Pages">
                {(page > 0).then(|| view! { <A href=Listing::href(&show, &q, page - 1)>"Previous page"</A> })}
                {
                    let (show, q) = (show.clone(), q.clone());
                    move || (first + shown() - 1 < total()).then(|| view! { <A href=Listing::href(&show, &q, page + 1)>"Next page"</A> })
                }
            </nav>
        </Show>
    }
}

fn count(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A section of the "all" view: its first meetings, how many there are, and a link to the rest.
#[component]
fn FirstOf(
    heading: &'static str,
    show: &'static str,
    q: String,
    meetings: Memo<Vec<MeetingView>>,
    total: Memo<i64>,
) -> impl IntoView {
    view! {
        <Show when=move || meetings.with(|m| !m.is_empty())>
            <h2>{heading} " " <span class="count">{move || format!("({})", total.get())}</span></h2>
            <ul class="meetings"><MeetingItems meetings/></ul>
            {
                let q = q.clone();
                move || (total.get() > meetings.with(|m| m.len() as i64)).then(|| view! {
                    <p class="more"><A href=Listing::href(show, &q, 0)>{format!("Show all {} {show} meetings", total.get())}</A></p>
                })
            }
        </Show>
    }
}

/// Meetings keyed by id and content: a meeting that did not change keeps its DOM.
#[component]
fn MeetingItems(meetings: Memo<Vec<MeetingView>>) -> impl IntoView {
    view! {
        <For
            each=move || meetings.get()
            key=|m| (m.id, fingerprint(m))
            children=|m| view! { <Meeting m/> }
        />
    }
}

fn fingerprint(m: &MeetingView) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.hash(&mut h);
    h.finish()
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
