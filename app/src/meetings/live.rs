//! The browser side of the live stream: an `EventSource` on `/api/meetings/stream`. Each change
//! refetches the list; the browser reconnects by itself and sends `Last-Event-ID`, and the
//! server replays what was missed.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum LiveState {
    Connecting,
    Live,
    Reconnecting,
}

/// Opens the stream once the page is interactive; `on_change` runs for every change (and after
/// a reconnect). Closed when the page goes away.
#[allow(unused_variables)]
pub fn use_live_meetings(on_change: impl Fn() + Clone + 'static) -> ReadSignal<LiveState> {
    let (state, set_state) = signal(LiveState::Connecting);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::prelude::Closure;
        use wasm_bindgen::JsCast;
        let Ok(source) = web_sys::EventSource::new("/api/meetings/stream") else {
            set_state.set(LiveState::Reconnecting);
            return;
        };
        let changed = on_change.clone();
        let on_change_event = Closure::<dyn Fn(web_sys::Event)>::new(move |_| changed());
        let refetch = on_change.clone();
        let on_ready = Closure::<dyn Fn(web_sys::Event)>::new(move |_| {
            // The stream starts from "now": refetch once so a change made between loading the
            // list and opening the stream (or while reconnecting) is not missed.
            refetch();
            set_state.set(LiveState::Live);
        });
        let on_error =
            Closure::<dyn Fn(web_sys::Event)>::new(move |_| set_state.set(LiveState::Reconnecting));
        let _ = source
            .add_event_listener_with_callback("change", on_change_event.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("ready", on_ready.as_ref().unchecked_ref());
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let keep = send_wrapper::SendWrapper::new((source, on_change_event, on_ready, on_error));
        on_cleanup(move || keep.take().0.close());
    });
    state
}
