//! Applying a live change to the meetings on the page: only the changed meetings are fetched
//! (`changed_meetings`), and this pure function decides where each goes. When the result would
//! not be exactly what a fresh read of the page shows (a meeting left a full list, so the next
//! one should move up; a page other than the first), it says so and the page reads its list again.

use super::MeetingView;
use super::MeetingsView;

/// How many meetings each list of a view shows at most (the server's page sizes).
pub const ALL_UPCOMING: usize = 50;
pub const ALL_PAST: usize = 20;
/// More changed meetings than this at once: the page reads its list again instead (the server
/// refuses longer lists).
pub const MAX_CHANGED: usize = 100;

/// `view` after the meetings `changed` changed, given `patch`: what the server says of those
/// meetings for this same view (each list holds those of them that belong to it, and its new
/// total). `None`: patching cannot give the exact page; read it again.
pub fn apply(view: &MeetingsView, changed: &[i64], patch: MeetingsView) -> Option<MeetingsView> {
    if view.page != 0 || patch.show != view.show || patch.search != view.search {
        return None;
    }
    let single = view.page_size.max(0) as usize;
    let (upcoming_size, past_size, canceled_size) = match view.show.as_str() {
        "all" => (ALL_UPCOMING, ALL_PAST, 0),
        "upcoming" => (single, 0, 0),
        "past" => (0, single, 0),
        "canceled" => (0, 0, single),
        _ => return None,
    };
    let mut next = view.clone();
    next.connection = patch.connection;
    next.timezone = patch.timezone;
    next.upcoming = merged(
        &view.upcoming,
        changed,
        patch.upcoming,
        upcoming_size,
        patch.upcoming_total,
        Order::SoonestFirst,
    )?;
    next.upcoming_total = patch.upcoming_total;
    next.past = merged(
        &view.past,
        changed,
        patch.past,
        past_size,
        patch.past_total,
        Order::LatestFirst,
    )?;
    next.past_total = patch.past_total;
    next.canceled = merged(
        &view.canceled,
        changed,
        patch.canceled,
        canceled_size,
        patch.canceled_total,
        Order::LatestFirst,
    )?;
    next.canceled_total = patch.canceled_total;
    Some(next)
}

#[derive(Clone, Copy)]
enum Order {
    SoonestFirst,
    LatestFirst,
}

/// One list: the changed meetings taken out, those that belong put in their place, cut to the
/// list's size. `None` when that is not certainly the list a fresh read gives.
///
/// When the list has meetings the page does not hold (more in all than shown), those all sort
/// after the last meeting shown; so a changed meeting is certainly in its place only if it sorts
/// before the last unchanged one shown. One that sorts after it might belong behind meetings the
/// page never read.
fn merged(
    shown: &[MeetingView],
    changed: &[i64],
    belonging: Vec<MeetingView>,
    size: usize,
    total: i64,
    order: Order,
) -> Option<Vec<MeetingView>> {
    let cmp = |a: &MeetingView, b: &MeetingView| {
        let soonest = a.start_iso.cmp(&b.start_iso).then(a.id.cmp(&b.id));
        match order {
            Order::SoonestFirst => soonest,
            Order::LatestFirst => soonest.reverse(),
        }
    };
    let total = usize::try_from(total.max(0)).unwrap_or(usize::MAX);
    let mut list: Vec<MeetingView> = shown
        .iter()
        .filter(|m| !changed.contains(&m.id))
        .cloned()
        .collect();
    let unread = total > list.len() + belonging.len();
    if unread {
        let last_unchanged = list.last()?.clone();
        list.extend(
            belonging
                .into_iter()
                .filter(|m| cmp(m, &last_unchanged) == std::cmp::Ordering::Less),
        );
    } else {
        list.extend(belonging);
    }
    list.sort_by(cmp);
    list.truncate(size);
    (list.len() == total.min(size)).then_some(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "ssr")]
    #[test]
    fn the_list_sizes_and_the_changed_cap_are_the_servers() {
        assert_eq!(ALL_UPCOMING as i64, backend::meetings::ALL_UPCOMING);
        assert_eq!(ALL_PAST as i64, backend::meetings::ALL_PAST);
        assert_eq!(MAX_CHANGED, backend::meetings::MAX_CHANGED);
    }

    fn meeting(id: i64, start: &str) -> MeetingView {
        MeetingView {
            id,
            title: format!("Meeting {id}"),
            when: start.into(),
            start_iso: start.into(),
            canceled: false,
            cancel_note: None,
            rescheduled_from: None,
            location: None,
            location_details: None,
            join_url: None,
            awaiting_link: false,
            guests: Vec::new(),
            source: "Calendly (live)".into(),
            invitees: Vec::new(),
        }
    }

    fn view(upcoming: Vec<MeetingView>, total: i64) -> MeetingsView {
        MeetingsView {
            connection: "connected".into(),
            timezone: "UTC".into(),
            show: "all".into(),
            search: String::new(),
            page: 0,
            page_size: 50,
            upcoming,
            upcoming_total: total,
            past: Vec::new(),
            past_total: 0,
            canceled: Vec::new(),
            canceled_total: 0,
        }
    }

    #[test]
    fn a_new_booking_goes_in_its_place_by_start_time() {
        let page = view(
            vec![
                meeting(1, "2026-12-04T09:00:00Z"),
                meeting(2, "2026-12-06T09:00:00Z"),
            ],
            2,
        );
        let patch = view(vec![meeting(3, "2026-12-05T09:00:00Z")], 3);
        let next = apply(&page, &[3], patch).unwrap();
        assert_eq!(
            next.upcoming.iter().map(|m| m.id).collect::<Vec<_>>(),
            [1, 3, 2]
        );
        assert_eq!(next.upcoming_total, 3);
    }

    #[test]
    fn a_changed_meeting_is_replaced_where_it_is() {
        let page = view(
            vec![
                meeting(1, "2026-12-04T09:00:00Z"),
                meeting(2, "2026-12-06T09:00:00Z"),
            ],
            2,
        );
        let mut canceled = meeting(2, "2026-12-06T09:00:00Z");
        canceled.canceled = true;
        let next = apply(&page, &[2], view(vec![canceled], 2)).unwrap();
        assert!(next.upcoming[1].canceled);
        assert_eq!(next.upcoming.len(), 2);
    }

    #[test]
    fn a_booking_beyond_a_full_list_only_moves_the_count() {
        let full: Vec<MeetingView> = (0..ALL_UPCOMING as i64)
            .map(|i| meeting(i, &format!("2026-12-04T{:02}:{:02}:00Z", i / 60, i % 60)))
            .collect();
        let page = view(full.clone(), ALL_UPCOMING as i64);
        let later = meeting(999, "2027-01-01T09:00:00Z");
        let next = apply(&page, &[999], view(vec![later], ALL_UPCOMING as i64 + 1)).unwrap();
        assert_eq!(next.upcoming, full);
        assert_eq!(next.upcoming_total, ALL_UPCOMING as i64 + 1);
    }

    #[test]
    fn a_meeting_leaving_a_full_list_makes_the_page_read_again() {
        let full: Vec<MeetingView> = (0..ALL_UPCOMING as i64)
            .map(|i| meeting(i, &format!("2026-12-04T{:02}:{:02}:00Z", i / 60, i % 60)))
            .collect();
        let page = view(full, 80);
        // Meeting 3 was moved away by a reschedule: the 51st should now show, and only a read
        // of the list knows which it is.
        assert!(apply(&page, &[3], view(Vec::new(), 79)).is_none());
    }

    #[test]
    fn a_shown_meeting_moved_past_meetings_the_page_never_read_makes_it_read_again() {
        let full: Vec<MeetingView> = (0..ALL_UPCOMING as i64)
            .map(|i| meeting(i, &format!("2026-12-04T{:02}:{:02}:00Z", i / 60, i % 60)))
            .collect();
        let page = view(full, 60);
        // Meeting 3 is moved to next year: ten unread meetings come before it now.
        let moved = meeting(3, "2027-06-01T09:00:00Z");
        assert!(apply(&page, &[3], view(vec![moved], 60)).is_none());
    }

    #[test]
    fn a_meeting_leaving_a_short_list_is_simply_removed() {
        let page = view(
            vec![
                meeting(1, "2026-12-04T09:00:00Z"),
                meeting(2, "2026-12-06T09:00:00Z"),
            ],
            2,
        );
        let next = apply(&page, &[1], view(Vec::new(), 1)).unwrap();
        assert_eq!(next.upcoming.iter().map(|m| m.id).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn later_pages_and_changed_views_are_read_again() {
        let mut second = view(Vec::new(), 120);
        second.page = 1;
        assert!(apply(&second, &[1], second.clone()).is_none());
        let page = view(Vec::new(), 0);
        let mut other = view(Vec::new(), 0);
        other.search = "ann".into();
        assert!(apply(&page, &[1], other).is_none());
    }
}
