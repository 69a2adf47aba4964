//! The `/sandbox` page: book, cancel and move test meetings as an invitee (sandbox mode only).

use leptos::prelude::*;
use leptos_router::components::A;

use super::{sandbox_overview, SandboxBook, SandboxBooking, SandboxCancel, SandboxReschedule};

fn error_of(result: Option<Result<(), crate::error::AppError>>) -> Option<String> {
    result.and_then(|r| r.err()).map(|e| e.to_string())
}

/// `/sandbox`
#[component]
pub fn SandboxPage() -> impl IntoView {
    let book = ServerAction::<SandboxBook>::new();
    let cancel = ServerAction::<SandboxCancel>::new();
    let reschedule = ServerAction::<SandboxReschedule>::new();
    let overview = Resource::new(
        move || {
            (
                book.version().get(),
                cancel.version().get(),
                reschedule.version().get(),
            )
        },
        |_| sandbox_overview(),
    );
    view! {
        <h1>"Sandbox: book as an invitee"</h1>
        <p class="hint">
            "Calendly is simulated in sandbox mode. Book, cancel or reschedule test meetings here, then watch them appear on your "
            <A href="/meetings">"Meetings"</A>" page."
        </p>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    Ok(view) if view.host.is_none() => view! {
                        <div class="empty">
                            <p>"Connect Calendly first: test meetings are booked with your connected Calendly account."</p>
                            <A href="/settings/calendar">"Set up your Calendly connection"</A>
                        </div>
                    }.into_any(),
                    Ok(view) => view! {
                        <section class="card">
                            <h2>{format!("Book a meeting with {}", view.host.clone().unwrap_or_default())}</h2>
                            <ActionForm action=book attr:class="stack">
                                <label for="sb-name">"Invitee name"</label>
                                <input id="sb-name" name="name" type="text" value="Alex Morgan" required/>
                                <label for="sb-email">"Invitee email"</label>
                                <input id="sb-email" name="email" type="email" value="alex.morgan@example.com" required/>
                                <label for="sb-title">"Meeting"</label>
                                <input id="sb-title" name="title" type="text" value="30 Minute Meeting"/>
                                <label for="sb-start">{format!("Start ({})", view.timezone)}</label>
                                <input id="sb-start" name="start" type="datetime-local" value=view.suggested_start.clone() required/>
                                <label for="sb-minutes">"Duration (minutes)"</label>
                                <input id="sb-minutes" name="minutes" type="number" min="5" max="480" value="30"/>
                                {move || error_of(book.value().get()).map(|e| view! { <p class="error" role="alert">{e}</p> })}
                                <button type="submit" disabled=move || book.pending().get()>"Book meeting"</button>
                            </ActionForm>
                        </section>
                        <section class="card">
                            <h2>"Upcoming test bookings"</h2>
                            {move || error_of(cancel.value().get()).or_else(|| error_of(reschedule.value().get()))
                                .map(|e| view! { <p class="error" role="alert">{e}</p> })}
                            {if view.bookings.is_empty() {
                                view! { <p class="hint">"None yet."</p> }.into_any()
                            } else {
                                view! {
                                    <ul class="meetings">
                                        {view.bookings.into_iter().map(|b| view! { <Booking b cancel reschedule/> }).collect_view()}
                                    </ul>
                                }.into_any()
                            }}
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Booking(
    b: SandboxBooking,
    cancel: ServerAction<SandboxCancel>,
    reschedule: ServerAction<SandboxReschedule>,
) -> impl IntoView {
    let label = format!("{} with {}", b.title, b.invitee);
    let (cancel_label, reschedule_label) =
        (format!("Cancel {label}"), format!("Reschedule {label}"));
    let (uri_cancel, uri_reschedule) = (b.invitee_uri.clone(), b.invitee_uri.clone());
    view! {
        <li class="meeting">
            <h3>{b.title.clone()}</h3>
            <p class="when">{b.when.clone()}" · "{b.invitee.clone()}</p>
            <ActionForm action=cancel attr:class="inline">
                <input type="hidden" name="invitee" value=uri_cancel/>
                <input type="hidden" name="reason" value="Canceled in the sandbox"/>
                <button type="submit" class="secondary" aria-label=cancel_label>"Cancel booking"</button>
            </ActionForm>
            <ActionForm action=reschedule attr:class="inline">
                <input type="hidden" name="invitee" value=uri_reschedule/>
                <label>"New start " <input name="start" type="datetime-local" required/></label>
                <button type="submit" class="secondary" aria-label=reschedule_label>"Reschedule"</button>
            </ActionForm>
        </li>
    }
}
