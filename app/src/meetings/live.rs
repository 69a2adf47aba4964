//! The browser side of the live stream: an `EventSource` on `/api/meetings/stream`. Each
//! `change` event names the meetings that changed; the browser reconnects by itself and sends
//! `Last-Event-ID`, and the server replays what was missed.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum LiveState {
    Connecting,
    Live,
    Reconnecting,
}

/// What the stream says happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum LiveChange {
    /// These meetings changed.
    Meetings(Vec<i64>),
    /// The stream (re)opened: anything may have changed meanwhile.
    Anything,
}

/// Opens the stream once the page is interactive; `on_change` runs for every change (and after
/// a reconnect). Closed when the page goes away.
///
/// The browser retries a dropped stream by itself, but gives up for good when an answer is not
/// a stream (a 503 while the database is away, a 429, a redeploy's 502). Then the stream is
/// opened again after a growing pause (1 s, 2 s, … at most 30 s), so the page comes back live on
/// its own when the server does.
#[allow(unused_variables)]
pub fn use_live_meetings(
    on_change: impl Fn(LiveChange) + Clone + 'static,
) -> ReadSignal<LiveState> {
    let (state, set_state) = signal(LiveState::Connecting);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let live = std::rc::Rc::new(browser::Live::default());
        browser::open(live.clone(), std::rc::Rc::new(on_change.clone()), set_state);
        let keep = send_wrapper::SendWrapper::new(live);
        on_cleanup(move || keep.take().stop());
    });
    state
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::time::Duration;

    use leptos::prelude::*;
    use wasm_bindgen::prelude::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{Event, EventSource, MessageEvent};

    use super::{LiveChange, LiveState};

    type Handler = Closure<dyn Fn(Event)>;

    /// The open stream and its handlers (kept alive while it is open).
    #[derive(Default)]
    pub struct Live {
        current: RefCell<Option<(EventSource, [Handler; 3])>>,
        failures: Cell<u32>,
        stopped: Cell<bool>,
    }

    impl Live {
        pub fn stop(&self) {
            self.stopped.set(true);
            if let Some((source, _)) = self.current.take() {
                source.close();
            }
        }
    }

    /// The pause before reopening after `failures` closed streams in a row.
    fn pause(failures: u32) -> Duration {
        Duration::from_millis((1000u64 << failures.min(5)).min(30_000))
    }

    /// A `change` event's data: the changed meetings' ids, comma-separated.
    fn changed_ids(event: &Event) -> LiveChange {
        let data = event
            .dyn_ref::<MessageEvent>()
            .and_then(|m| m.data().as_string())
            .unwrap_or_default();
        let ids: Option<Vec<i64>> = data
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim().parse().ok())
            .collect();
        match ids {
            Some(ids) if !ids.is_empty() => LiveChange::Meetings(ids),
            _ => LiveChange::Anything,
        }
    }

    pub fn open(
        live: Rc<Live>,
        on_change: Rc<dyn Fn(LiveChange)>,
        set_state: WriteSignal<LiveState>,
    ) {
        if live.stopped.get() {
            return;
        }
        // Replacing the previous stream drops its handlers: never from inside one of them, as
        // this runs from a timer.
        if let Some((old, _)) = live.current.take() {
            old.close();
        }
        let Ok(source) = EventSource::new("/api/meetings/stream") else {
            set_state.set(LiveState::Reconnecting);
            return;
        };
        let changed = on_change.clone();
        let on_change_event = Handler::new(move |event: Event| changed(changed_ids(&event)));
        let refetch = on_change.clone();
        let ready_live = live.clone();
        let on_ready = Handler::new(move |_| {
            // The stream starts from "now": refetch once so a change made between loading the
            // list and opening the stream (or while reconnecting) is not missed.
            ready_live.failures.set(0);
            refetch(LiveChange::Anything);
            set_state.set(LiveState::Live);
        });
        let error_live = Rc::downgrade(&live);
        let errored = source.clone();
        let on_error = Handler::new(move |_| {
            set_state.set(LiveState::Reconnecting);
            if errored.ready_state() != EventSource::CLOSED {
                return; // the browser retries this one itself
            }
            let Some(live) = error_live.upgrade() else {
                return;
            };
            let failures = live.failures.get();
            live.failures.set(failures + 1);
            let on_change = on_change.clone();
            set_timeout(move || open(live, on_change, set_state), pause(failures));
        });
        let _ = source
            .add_event_listener_with_callback("change", on_change_event.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("ready", on_ready.as_ref().unchecked_ref());
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        live.current
            .replace(Some((source, [on_change_event, on_ready, on_error])));
    }
}
