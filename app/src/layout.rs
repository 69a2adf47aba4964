//! The signed-in app shell: navigation, the adviser's email, the Sandbox badge and Sign out.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

use crate::auth::{current_adviser, SignOut};

#[component]
pub fn SignedInLayout() -> impl IntoView {
    let adviser = Resource::new(|| (), |_| current_adviser());
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <header class="topbar">
            <a class="brand" href="/meetings">"Advicly"</a>
            <nav aria-label="Main">
                <A href="/meetings">"Meetings"</A>
                <A href="/settings/calendar">"Settings › Calendar Connections"</A>
            </nav>
            <div class="account">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match adviser.await {
                            Ok(a) => view! {
                                <Show when=move || a.sandbox>
                                    <A href="/sandbox" attr:class="badge" attr:title="Running against the built-in Calendly simulator">"Sandbox"</A>
                                </Show>
                                <span class="who">{a.email.clone()}</span>
                            }
                            .into_any(),
                            Err(_) => view! {
                                <span class="who">"Your session has ended. " <a href="/login">"Sign in again"</a></span>
                            }
                            .into_any(),
                        }
                    })}
                </Suspense>
                <ActionForm action=sign_out attr:class="inline">
                    <button type="submit" class="secondary">"Sign out"</button>
                </ActionForm>
            </div>
        </header>
        <main class="page">
            <Outlet/>
        </main>
    }
}
