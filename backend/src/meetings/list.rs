//! Reading an adviser's meetings for the page, and the change log for the live stream.

use super::status::{AttendeeStatus, MeetingStatus, Source};
use crate::accounts::AdviserId;
use crate::Db;

#[derive(Clone, Debug, PartialEq)]
pub struct AttendeeRow {
    pub name: String,
    pub email: String,
    pub timezone: Option<String>,
    pub status: AttendeeStatus,
    pub rescheduled: bool,
    pub no_show: bool,
    pub questions: Vec<(String, String)>,
    /// The invitee's own links, for the adviser to pass on.
    pub cancel_url: Option<String>,
    pub reschedule_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MeetingRow {
    pub id: i64,
    pub event_uri: String,
    pub title: String,
    pub start_at: i64,
    pub end_at: i64,
    pub location: Option<String>,
    /// The location's extra details (e.g. directions), when Calendly has them.
    pub location_details: Option<String>,
    pub join_url: Option<String>,
    /// A conference meeting whose link Calendly has not made yet.
    pub awaiting_link: bool,
    /// Guests the invitee added (emails).
    pub guests: Vec<String>,
    pub status: MeetingStatus,
    pub canceled_by: Option<String>,
    pub cancel_reason: Option<String>,
    pub canceler_type: Option<String>,
    pub rescheduled_from_start: Option<i64>,
    pub source: Source,
    pub attendees: Vec<AttendeeRow>,
}

/// Which of an adviser's meetings a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Show {
    /// Upcoming and past ones, each in its own section.
    #[default]
    All,
    Upcoming,
    Past,
    Canceled,
}

impl Show {
    /// From the page's `?show=` value; anything else is `All`.
    pub fn parse(raw: &str) -> Show {
        match raw {
            "upcoming" => Show::Upcoming,
            "past" => Show::Past,
            "canceled" => Show::Canceled,
            _ => Show::All,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Show::All => "all",
            Show::Upcoming => "upcoming",
            Show::Past => "past",
            Show::Canceled => "canceled",
        }
    }
}

/// One list of meetings: a page of them and how many match in all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Section {
    pub meetings: Vec<MeetingRow>,
    pub total: i64,
}

/// The sections a page shows: `All` has upcoming and past; the others one list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeetingsPage {
    pub upcoming: Section,
    pub past: Section,
    pub canceled: Section,
}

/// Meetings per page of a single list (upcoming, past or canceled).
pub const PAGE_SIZE: i64 = 50;
/// On the `All` view: the soonest upcoming meetings and the latest past ones, each section
/// linking to its full list.
pub const ALL_UPCOMING: i64 = 50;
pub const ALL_PAST: i64 = 20;
/// Searches longer than this are cut (a name or an email is far shorter).
pub const MAX_SEARCH_CHARS: usize = 100;

/// What to list: which meetings, an optional search in invitee names and emails, and the page
/// of a single list (`All` has no pages).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeetingsQuery {
    pub show: Show,
    pub search: String,
    pub page: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    Upcoming,
    Past,
    Any,
}

/// Which section of [`MeetingsPage`] a list fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Upcoming,
    Past,
    Canceled,
}

/// One list to read: which meetings, in which order, which slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct List {
    slot: Slot,
    when: When,
    canceled_only: bool,
    soonest_first: bool,
    offset: i64,
    limit: i64,
}

/// The lists a query reads: `All` the soonest upcoming and the latest past meetings; the
/// others one list, a page at a time.
fn lists_for(query: &MeetingsQuery) -> Vec<List> {
    let offset = query.page.clamp(0, 100_000) * PAGE_SIZE;
    let list = |slot, when, soonest_first, offset, limit| List {
        slot,
        when,
        canceled_only: slot == Slot::Canceled,
        soonest_first,
        offset,
        limit,
    };
    match query.show {
        Show::All => vec![
            list(Slot::Upcoming, When::Upcoming, true, 0, ALL_UPCOMING),
            list(Slot::Past, When::Past, false, 0, ALL_PAST),
        ],
        Show::Upcoming => vec![list(
            Slot::Upcoming,
            When::Upcoming,
            true,
            offset,
            PAGE_SIZE,
        )],
        Show::Past => vec![list(Slot::Past, When::Past, false, offset, PAGE_SIZE)],
        Show::Canceled => vec![list(Slot::Canceled, When::Any, false, offset, PAGE_SIZE)],
    }
}

/// A `LIKE` pattern matching `search` anywhere, case-insensitively (lower-cased on both sides),
/// with `%`, `_` and `!` in the search taken literally (`ESCAPE '!'`: the same on SQLite and
/// PostgreSQL, whatever `standard_conforming_strings` says).
fn like_pattern(search: &str) -> Option<String> {
    let search: String = search.trim().chars().take(MAX_SEARCH_CHARS).collect();
    if search.is_empty() {
        return None;
    }
    let mut pattern = String::from("%");
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Some(pattern)
}

/// Whether `invitee_uri` is one of the adviser's own meetings' invitees.
pub async fn has_invitee(db: &Db, adviser: AdviserId, invitee_uri: &str) -> sqlx::Result<bool> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM attendees WHERE user_id = $1 AND invitee_uri = $2")
            .bind(adviser.0)
            .bind(invitee_uri)
            .fetch_one(db.pool())
            .await?;
    Ok(n > 0)
}

/// The adviser's meetings for one page. Meetings that were moved elsewhere by a reschedule are
/// left out: the booking shows once, at its new time, marked Rescheduled. One query per list,
/// one count per list and one query for all their attendees.
pub async fn list_for_user(
    db: &Db,
    adviser: AdviserId,
    now_ms: i64,
    query: &MeetingsQuery,
) -> Result<MeetingsPage, sqlx::Error> {
    read_page(db, adviser, now_ms, query, None).await
}

/// At most this many changed meetings are looked up one by one; more, and the page reloads its
/// list instead.
pub const MAX_CHANGED: usize = 100;

/// What a live change means for a page showing `query`: of the meetings `changed` (ids from the
/// change log), those that belong to each of its lists, in the list's order, and each list's new
/// total. A changed meeting in none of them has left this view (or was never in it). Only the
/// adviser's own meetings are ever read: another adviser's id finds nothing.
pub async fn changed_in_view(
    db: &Db,
    adviser: AdviserId,
    now_ms: i64,
    query: &MeetingsQuery,
    changed: &[i64],
) -> Result<MeetingsPage, sqlx::Error> {
    let mut changed = changed.to_vec();
    changed.sort_unstable();
    changed.dedup();
    changed.truncate(MAX_CHANGED);
    read_page(db, adviser, now_ms, query, Some(&changed)).await
}

async fn read_page(
    db: &Db,
    adviser: AdviserId,
    now_ms: i64,
    query: &MeetingsQuery,
    only: Option<&[i64]>,
) -> Result<MeetingsPage, sqlx::Error> {
    let search = like_pattern(&query.search);
    let mut read = Vec::new();
    for mut list in lists_for(query) {
        if let Some(only) = only {
            list.offset = 0;
            list.limit = only.len() as i64;
        }
        let list_read = ListRead {
            list,
            now_ms,
            search: search.as_deref(),
            only,
        };
        let (rows, total) = one_list(db, adviser, list_read).await?;
        read.push((list.slot, rows, total));
    }
    let ids: Vec<i64> = read
        .iter()
        .flat_map(|(_, rows, _)| rows.iter().map(|r| r.id))
        .collect();
    let mut attendees = attendees_of(db, &ids).await?;
    let mut page = MeetingsPage::default();
    for (slot, rows, total) in read {
        let section = Section {
            meetings: rows
                .into_iter()
                .map(|r| {
                    let who = attendees.remove(&r.id).unwrap_or_default();
                    meeting_row(r, who)
                })
                .collect(),
            total,
        };
        match slot {
            Slot::Upcoming => page.upcoming = section,
            Slot::Past => page.past = section,
            Slot::Canceled => page.canceled = section,
        }
    }
    Ok(page)
}

/// Which rows of one list a read takes.
#[derive(Clone, Copy)]
struct ListRead<'a> {
    list: List,
    now_ms: i64,
    /// A `LIKE` pattern on attendee names and emails.
    search: Option<&'a str>,
    /// Only these meetings' rows (the count is still the whole list's).
    only: Option<&'a [i64]>,
}

/// The rows query and the count query of one list. Placeholders are numbered as they are added
/// ($1 the adviser, then the time, the search pattern, the ids, the limit and the offset), so each
/// query binds exactly what it uses, in that order.
fn list_sql(read: &ListRead) -> (String, String) {
    let list = read.list;
    let mut filter = String::from("m.user_id = $1 AND m.status <> 'rescheduled'");
    let mut next = 2;
    if list.when != When::Any {
        let op = if list.when == When::Upcoming {
            ">="
        } else {
            "<"
        };
        filter.push_str(&format!(" AND m.end_at {op} ${next}"));
        next += 1;
    }
    if list.canceled_only {
        filter.push_str(" AND m.status = 'canceled'");
    }
    if read.search.is_some() {
        filter.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM attendees a WHERE a.meeting_id = m.id \
             AND (lower(a.name) LIKE ${next} ESCAPE '!' OR lower(a.email) LIKE ${next} ESCAPE '!'))"
        ));
        next += 1;
    }
    let mut rows_filter = filter.clone();
    if let Some(only) = read.only {
        let placeholders: Vec<String> = (0..only.len()).map(|i| format!("${}", next + i)).collect();
        if placeholders.is_empty() {
            rows_filter.push_str(" AND 1 = 0");
        } else {
            rows_filter.push_str(&format!(" AND m.id IN ({})", placeholders.join(", ")));
        }
        next += only.len();
    }
    let order = if list.soonest_first {
        "m.start_at ASC, m.id ASC"
    } else {
        "m.start_at DESC, m.id DESC"
    };
    let rows = format!(
        "{SELECT} WHERE {rows_filter} ORDER BY {order} LIMIT ${next} OFFSET ${}",
        next + 1
    );
    (
        rows,
        format!("SELECT COUNT(*) FROM meetings m WHERE {filter}"),
    )
}

/// One list's rows and how many match in all.
async fn one_list(
    db: &Db,
    adviser: AdviserId,
    read: ListRead<'_>,
) -> Result<(Vec<Row>, i64), sqlx::Error> {
    let (rows_sql, count_sql) = list_sql(&read);
    let mut rows = sqlx::query_as::<_, Row>(&rows_sql).bind(adviser.0);
    let mut count = sqlx::query_as::<_, (i64,)>(&count_sql).bind(adviser.0);
    if read.list.when != When::Any {
        rows = rows.bind(read.now_ms);
        count = count.bind(read.now_ms);
    }
    if let Some(pattern) = read.search {
        rows = rows.bind(pattern.to_owned());
        count = count.bind(pattern.to_owned());
    }
    for id in read.only.unwrap_or_default() {
        rows = rows.bind(*id);
    }
    let rows = rows
        .bind(read.list.limit)
        .bind(read.list.offset)
        .fetch_all(db.pool())
        .await?;
    let (total,) = count.fetch_one(db.pool()).await?;
    Ok((rows, total))
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    event_uri: String,
    title: String,
    start_at: i64,
    end_at: i64,
    location: Option<String>,
    location_details: Option<String>,
    location_kind: Option<String>,
    location_status: Option<String>,
    join_url: Option<String>,
    guests: Option<String>,
    #[sqlx(try_from = "String")]
    status: MeetingStatus,
    canceled_by: Option<String>,
    cancel_reason: Option<String>,
    canceler_type: Option<String>,
    rescheduled_from_start: Option<i64>,
    #[sqlx(try_from = "String")]
    source: Source,
}

#[derive(sqlx::FromRow)]
struct Attendee {
    meeting_id: i64,
    name: String,
    email: String,
    timezone: Option<String>,
    #[sqlx(try_from = "String")]
    status: AttendeeStatus,
    rescheduled: i64,
    no_show: i64,
    questions: Option<String>,
    cancel_url: Option<String>,
    reschedule_url: Option<String>,
}

const SELECT: &str = "SELECT m.id, m.event_uri, m.title, m.start_at, m.end_at, m.location, m.location_details, m.location_kind, m.location_status, \
    m.join_url, m.guests, m.status, m.canceled_by, m.cancel_reason, m.canceler_type, prev.start_at AS rescheduled_from_start, m.source \
    FROM meetings m LEFT JOIN meetings prev ON prev.user_id = m.user_id AND prev.event_uri = m.rescheduled_from";

/// The attendees of these meetings, in one query, by meeting.
async fn attendees_of(
    db: &Db,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<AttendeeRow>>, sqlx::Error> {
    let mut by_meeting: std::collections::HashMap<i64, Vec<AttendeeRow>> = Default::default();
    if ids.is_empty() {
        return Ok(by_meeting);
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT meeting_id, name, email, timezone, status, rescheduled, no_show, questions, cancel_url, reschedule_url \
         FROM attendees WHERE meeting_id IN ({}) ORDER BY meeting_id, created_at, invitee_uri",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, Attendee>(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    for a in query.fetch_all(db.pool()).await? {
        by_meeting
            .entry(a.meeting_id)
            .or_default()
            .push(AttendeeRow {
                name: a.name,
                email: a.email,
                timezone: a.timezone,
                status: a.status,
                rescheduled: a.rescheduled == 1,
                no_show: a.no_show == 1,
                questions: a
                    .questions
                    .and_then(|q| serde_json::from_str::<Vec<calendly::QuestionAndAnswer>>(&q).ok())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|qa| (qa.question, qa.answer))
                    .collect(),
                cancel_url: a.cancel_url,
                reschedule_url: a.reschedule_url,
            });
    }
    Ok(by_meeting)
}

fn meeting_row(r: Row, attendees: Vec<AttendeeRow>) -> MeetingRow {
    let awaiting_link = r.join_url.is_none()
        && r.status == MeetingStatus::Active
        && super::is_conference(r.location_kind.as_deref(), r.location_status.as_deref());
    MeetingRow {
        id: r.id,
        event_uri: r.event_uri,
        title: r.title,
        start_at: r.start_at,
        end_at: r.end_at,
        location: r.location,
        location_details: r.location_details,
        join_url: r.join_url,
        awaiting_link,
        guests: r
            .guests
            .and_then(|g| serde_json::from_str(&g).ok())
            .unwrap_or_default(),
        status: r.status,
        canceled_by: r.canceled_by,
        cancel_reason: r.cancel_reason,
        canceler_type: r.canceler_type,
        rescheduled_from_start: r.rescheduled_from_start,
        source: r.source,
        attendees,
    }
}

/// Changes after `seq` for this adviser, oldest first: `(seq, meeting_id)`.
pub async fn changes_since(
    db: &Db,
    adviser: AdviserId,
    seq: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT seq, meeting_id FROM meeting_changes WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT 1000")
        .bind(adviser.0)
        .bind(seq)
        .fetch_all(db.pool())
        .await
}

/// The adviser's newest change sequence number (0 if none).
pub async fn latest_change(db: &Db, adviser: AdviserId) -> Result<i64, sqlx::Error> {
    let (seq,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(seq) FROM meeting_changes WHERE user_id = $1")
            .bind(adviser.0)
            .fetch_one(db.pool())
            .await?;
    Ok(seq.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_is_a_literal_substring_pattern() {
        assert_eq!(like_pattern("  Ann "), Some("%ann%".into()));
        assert_eq!(like_pattern("50%_off!"), Some("%50!%!_off!!%".into()));
        assert_eq!(like_pattern("   "), None);
        assert_eq!(
            like_pattern(&"x".repeat(500)).unwrap().len(),
            MAX_SEARCH_CHARS + 2
        );
    }

    #[test]
    fn all_reads_two_short_lists_and_the_others_one_page() {
        let all = lists_for(&MeetingsQuery::default());
        assert_eq!(
            all.iter().map(|l| (l.slot, l.limit)).collect::<Vec<_>>(),
            [(Slot::Upcoming, ALL_UPCOMING), (Slot::Past, ALL_PAST)]
        );
        let canceled = lists_for(&MeetingsQuery {
            show: Show::Canceled,
            page: 2,
            ..Default::default()
        });
        assert_eq!(canceled.len(), 1);
        assert!(canceled[0].canceled_only && canceled[0].when == When::Any);
        assert_eq!(canceled[0].offset, 2 * PAGE_SIZE);
        let huge = lists_for(&MeetingsQuery {
            show: Show::Past,
            page: i64::MAX,
            ..Default::default()
        });
        assert_eq!(
            huge[0].offset,
            100_000 * PAGE_SIZE,
            "a silly page number is clamped"
        );
    }
}
