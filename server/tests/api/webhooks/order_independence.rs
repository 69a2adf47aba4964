//! Property: any order of the same deliveries, with duplicates, ends in the same meetings.

use backend::accounts::AdviserId;
use backend::meetings::{
    apply_invitee, list_for_user, AttendeeStatus, InviteeChange, MeetingRow, MeetingsQuery, Show,
    Source, PAGE_SIZE,
};
use backend::Db;
use calendly::ids::{CalendlyUserUri, EventTypeUri, InviteeUri, ScheduledEventUri};
use calendly::{
    Cancellation, EventMembership, Invitee, InviteesCounter, Location, NoShow, QuestionAndAnswer,
    ScheduledEvent, Status, Tracking,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const HOST: &str = "https://api.calendly.com/users/host-0001";
const HOST_NAME: &str = "Dana Host";

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 7, 9, 0, 0).unwrap()
}

/// What happens at Calendly, one step at a time. Indices pick among the invitees or
/// events for which the step makes sense (modulo their number); impossible steps are skipped.
#[derive(Clone, Debug)]
enum Step {
    Book {
        seats: u32,
    },
    Join {
        event: usize,
    },
    Cancel {
        who: usize,
        by_host: bool,
        reason: bool,
    },
    Reschedule {
        who: usize,
    },
    MarkNoShow {
        who: usize,
    },
    UnmarkNoShow {
        who: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1u32..=2).prop_map(|seats| Step::Book { seats }),
        2 => (0usize..4).prop_map(|event| Step::Join { event }),
        2 => (0usize..4, any::<bool>(), any::<bool>())
            .prop_map(|(who, by_host, reason)| Step::Cancel { who, by_host, reason }),
        2 => (0usize..4).prop_map(|who| Step::Reschedule { who }),
        1 => (0usize..4).prop_map(|who| Step::MarkNoShow { who }),
        1 => (0usize..4).prop_map(|who| Step::UnmarkNoShow { who }),
    ]
}

struct Ev {
    id: String,
    name: String,
    start: DateTime<Utc>,
    limit: u32,
    invitees: Vec<usize>,
    status: Status,
    cancellation: Option<Cancellation>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

struct Inv {
    id: String,
    event: usize,
    name: String,
    status: Status,
    cancellation: Option<Cancellation>,
    rescheduled: bool,
    old: Option<usize>,
    new: Option<usize>,
    no_show: Option<NoShow>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
struct Delivery {
    change: InviteeChange,
    at: DateTime<Utc>,
    invitee: Invitee,
    event: ScheduledEvent,
}

/// A tiny Calendly (same rules as the simulator) that records the deliveries it would send.
struct World {
    now: DateTime<Utc>,
    events: Vec<Ev>,
    invitees: Vec<Inv>,
    deliveries: Vec<Delivery>,
    ids: usize,
}

impl World {
    fn run(steps: &[Step]) -> World {
        let mut w = World {
            now: base() - Duration::days(5),
            events: Vec::new(),
            invitees: Vec::new(),
            deliveries: Vec::new(),
            ids: 0,
        };
        for step in steps {
            w.now += Duration::seconds(1) + Duration::microseconds(w.ids as i64 * 7 % 1000);
            w.apply(step);
        }
        w
    }

    fn id(&mut self, prefix: &str) -> String {
        self.ids += 1;
        format!("{prefix}-{:04}", self.ids)
    }

    fn active(&self) -> Vec<usize> {
        (0..self.invitees.len())
            .filter(|i| self.invitees[*i].status == Status::Active)
            .collect()
    }

    fn new_event(&mut self, name: &str, start: DateTime<Utc>, limit: u32) -> usize {
        let id = self.id("ev");
        self.events.push(Ev {
            id,
            name: name.into(),
            start,
            limit,
            invitees: Vec::new(),
            status: Status::Active,
            cancellation: None,
            created_at: self.now,
            updated_at: self.now,
        });
        self.events.len() - 1
    }

    fn new_invitee(&mut self, event: usize, name: String) -> usize {
        let id = self.id("inv");
        self.invitees.push(Inv {
            id,
            event,
            name,
            status: Status::Active,
            cancellation: None,
            rescheduled: false,
            old: None,
            new: None,
            no_show: None,
            created_at: self.now,
            updated_at: self.now,
        });
        let i = self.invitees.len() - 1;
        self.events[event].invitees.push(i);
        self.events[event].updated_at = self.now;
        i
    }

    fn cancel(&mut self, i: usize, cancellation: Cancellation) {
        let inv = &mut self.invitees[i];
        inv.status = Status::Canceled;
        inv.cancellation = Some(cancellation.clone());
        inv.updated_at = self.now;
        let e = inv.event;
        let any_active = self.events[e]
            .invitees
            .iter()
            .any(|j| self.invitees[*j].status == Status::Active);
        let ev = &mut self.events[e];
        if !any_active {
            ev.status = Status::Canceled;
            ev.cancellation = Some(cancellation);
        }
        ev.updated_at = self.now;
    }

    fn deliver(&mut self, change: InviteeChange, i: usize) {
        let delivery = Delivery {
            change,
            at: self.now,
            invitee: self.invitee(i),
            event: self.scheduled_event(self.invitees[i].event),
        };
        self.deliveries.push(delivery);
    }

    fn apply(&mut self, step: &Step) {
        match *step {
            Step::Book { seats } => {
                let start = base() + Duration::days(7) + Duration::hours(self.events.len() as i64);
                let e = self.new_event("Financial Review", start, seats);
                let name = format!("Client {}", self.invitees.len() + 1);
                let i = self.new_invitee(e, name);
                self.deliver(InviteeChange::Created, i);
            }
            Step::Join { event } => {
                let open: Vec<usize> = (0..self.events.len())
                    .filter(|e| {
                        let ev = &self.events[*e];
                        let active = ev
                            .invitees
                            .iter()
                            .filter(|j| self.invitees[**j].status == Status::Active)
                            .count();
                        ev.status == Status::Active && (active as u32) < ev.limit
                    })
                    .collect();
                if open.is_empty() {
                    return;
                }
                let e = open[event % open.len()];
                let name = format!("Client {}", self.invitees.len() + 1);
                let i = self.new_invitee(e, name);
                self.deliver(InviteeChange::Created, i);
            }
            Step::Cancel {
                who,
                by_host,
                reason,
            } => {
                let active = self.active();
                if active.is_empty() {
                    return;
                }
                let i = active[who % active.len()];
                let cancellation = Cancellation {
                    canceled_by: if by_host {
                        HOST_NAME.into()
                    } else {
                        self.invitees[i].name.clone()
                    },
                    reason: reason.then(|| "Something came up".to_string()),
                    canceler_type: if by_host { "host" } else { "invitee" }.into(),
                    created_at: Some(self.now),
                };
                self.cancel(i, cancellation);
                self.deliver(InviteeChange::Canceled, i);
            }
            Step::Reschedule { who } => {
                let active = self.active();
                if active.is_empty() {
                    return;
                }
                let old = active[who % active.len()];
                let old_event = self.invitees[old].event;
                let (name, start, limit) = {
                    let ev = &self.events[old_event];
                    (
                        ev.name.clone(),
                        ev.start + Duration::days(1) + Duration::minutes(self.events.len() as i64),
                        ev.limit,
                    )
                };
                let e = self.new_event(&name, start, limit);
                let person = self.invitees[old].name.clone();
                let new = self.new_invitee(e, person.clone());
                self.invitees[new].old = Some(old);
                self.invitees[old].rescheduled = true;
                self.invitees[old].new = Some(new);
                let cancellation = Cancellation {
                    canceled_by: person,
                    reason: None,
                    canceler_type: "invitee".into(),
                    created_at: Some(self.now),
                };
                self.cancel(old, cancellation);
                self.deliver(InviteeChange::Canceled, old);
                self.deliver(InviteeChange::Created, new);
            }
            Step::MarkNoShow { who } => {
                let candidates: Vec<usize> = self
                    .active()
                    .into_iter()
                    .filter(|i| self.invitees[*i].no_show.is_none())
                    .collect();
                if candidates.is_empty() {
                    return;
                }
                let i = candidates[who % candidates.len()];
                let uri = format!(
                    "https://api.calendly.com/invitee_no_shows/{}",
                    self.id("ns")
                );
                self.invitees[i].no_show = Some(NoShow {
                    uri,
                    created_at: Some(self.now),
                });
                self.invitees[i].updated_at = self.now;
                self.deliver(InviteeChange::NoShowMarked, i);
            }
            Step::UnmarkNoShow { who } => {
                let marked: Vec<usize> = (0..self.invitees.len())
                    .filter(|i| self.invitees[*i].no_show.is_some())
                    .collect();
                if marked.is_empty() {
                    return;
                }
                let i = marked[who % marked.len()];
                self.invitees[i].no_show = None;
                self.invitees[i].updated_at = self.now;
                self.deliver(InviteeChange::NoShowCleared, i);
            }
        }
    }

    fn event_uri(&self, e: usize) -> String {
        format!(
            "https://api.calendly.com/scheduled_events/{}",
            self.events[e].id
        )
    }

    fn invitee_uri(&self, i: usize) -> InviteeUri {
        let inv = &self.invitees[i];
        InviteeUri::parse(&format!(
            "{}/invitees/{}",
            self.event_uri(inv.event),
            inv.id
        ))
        .unwrap()
    }

    fn scheduled_event(&self, e: usize) -> ScheduledEvent {
        let ev = &self.events[e];
        let active = ev
            .invitees
            .iter()
            .filter(|j| self.invitees[**j].status == Status::Active)
            .count();
        ScheduledEvent {
            uri: ScheduledEventUri::parse(&self.event_uri(e)).unwrap(),
            name: Some(ev.name.clone()),
            status: ev.status.clone(),
            start_time: ev.start,
            end_time: ev.start + Duration::minutes(30),
            event_type: Some(
                EventTypeUri::parse("https://api.calendly.com/event_types/et-0001").unwrap(),
            ),
            location: Some(Location {
                kind: "google_conference".into(),
                join_url: Some(format!("https://calendly.com/events/{}/google_meet", ev.id)),
                status: Some("processing".into()),
                ..Location::default()
            }),
            invitees_counter: Some(InviteesCounter {
                total: ev.invitees.len() as u32,
                active: active as u32,
                limit: ev.limit,
            }),
            event_memberships: vec![EventMembership {
                user: CalendlyUserUri::parse(HOST).unwrap(),
                user_email: Some("host@example.com".into()),
                user_name: Some(HOST_NAME.into()),
            }],
            event_guests: Vec::new(),
            meeting_notes_plain: None,
            meeting_notes_html: None,
            cancellation: ev.cancellation.clone(),
            created_at: ev.created_at,
            updated_at: ev.updated_at,
        }
    }

    fn invitee(&self, i: usize) -> Invitee {
        let inv = &self.invitees[i];
        let email = format!("{}@example.com", inv.name.to_lowercase().replace(' ', "."));
        Invitee {
            uri: self.invitee_uri(i),
            email,
            name: inv.name.clone(),
            first_name: None,
            last_name: None,
            status: inv.status.clone(),
            timezone: Some("Europe/London".into()),
            event: ScheduledEventUri::parse(&self.event_uri(inv.event)).unwrap(),
            created_at: inv.created_at,
            updated_at: inv.updated_at,
            questions_and_answers: vec![QuestionAndAnswer {
                question: "What would you like to discuss?".into(),
                answer: format!("Savings of {}", inv.name),
                position: 0,
            }],
            tracking: Some(Tracking::default()),
            text_reminder_number: None,
            rescheduled: inv.rescheduled,
            old_invitee: inv.old.map(|o| self.invitee_uri(o)),
            new_invitee: inv.new.map(|n| self.invitee_uri(n)),
            cancel_url: Some(format!("https://calendly.com/cancellations/{}", inv.id)),
            reschedule_url: Some(format!("https://calendly.com/reschedulings/{}", inv.id)),
            routing_form_submission: None,
            payment: None,
            no_show: inv.no_show.clone(),
            reconfirmation: None,
            cancellation: inv.cancellation.clone(),
            scheduling_method: None,
            invitee_scheduled_by: None,
        }
    }

    /// What the page should show per event: (event uri, status, sorted attendees
    /// (name, canceled, no-show)), for events not moved away by a reschedule.
    fn expected(&self) -> Vec<crate::webhooks::ShownMeeting> {
        let mut out: Vec<_> = (0..self.events.len())
            .filter_map(|e| {
                let invs: Vec<&Inv> = self.events[e]
                    .invitees
                    .iter()
                    .map(|i| &self.invitees[*i])
                    .collect();
                let any_active = invs.iter().any(|i| i.status == Status::Active);
                let moved = invs
                    .iter()
                    .all(|i| i.status == Status::Canceled && i.rescheduled);
                if moved {
                    return None;
                }
                let mut attendees: Vec<(String, bool, bool)> = invs
                    .iter()
                    .map(|i| {
                        (
                            i.name.clone(),
                            i.status == Status::Canceled,
                            i.no_show.is_some(),
                        )
                    })
                    .collect();
                attendees.sort();
                let status = if any_active { "active" } else { "canceled" };
                Some((self.event_uri(e), status.to_string(), attendees))
            })
            .collect();
        out.sort();
        out
    }
}

async fn new_adviser(db: &Db) -> AdviserId {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO advisers (email, password_hash, created_at) VALUES ($1, 'x', 0) RETURNING id",
    )
    .bind(format!("{}@example.com", uuid::Uuid::new_v4().simple()))
    .fetch_one(db.pool())
    .await
    .unwrap();
    AdviserId(id)
}

/// Applies deliveries as the receiver does: one transaction each, `now` = arrival time.
async fn apply_all(db: &Db, user: AdviserId, deliveries: &[&Delivery]) {
    let arrival = base().timestamp_millis();
    for (n, d) in deliveries.iter().enumerate() {
        let mut tx = db.pool().begin().await.unwrap();
        let seen = backend::meetings::Observation {
            change: d.change,
            at: &d.at,
            invitee: &d.invitee,
            event: &d.event,
        };
        apply_invitee(
            &mut tx,
            user,
            seen,
            Source::Webhook,
            arrival + n as i64 * 1000,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
}

async fn meetings(db: &Db, user: AdviserId) -> Vec<MeetingRow> {
    let mut all = Vec::new();
    for show in [Show::Upcoming, Show::Past] {
        let query = MeetingsQuery {
            show,
            ..Default::default()
        };
        let page = list_for_user(db, user, base().timestamp_millis(), &query)
            .await
            .unwrap();
        let section = if show == Show::Upcoming {
            page.upcoming
        } else {
            page.past
        };
        assert!(section.total <= PAGE_SIZE, "one page holds them all");
        all.extend(section.meetings);
    }
    all.into_iter().map(|m| MeetingRow { id: 0, ..m }).collect()
}

#[test]
fn any_order_of_the_same_deliveries_with_duplicates_ends_in_the_same_meetings() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("advicly-prop-{}", uuid::Uuid::new_v4()));
    let db = rt
        .block_on(Db::connect(&format!(
            "sqlite://{}/x.db?mode=rwc",
            dir.display()
        )))
        .unwrap();
    let mut runner = TestRunner::new(Config {
        // 64 by default (a few seconds); PROPTEST_CASES=5000 for a deeper search.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(step(), 1..10),
        prop::collection::vec(any::<u32>(), 20),
        prop::collection::vec((any::<usize>(), any::<usize>()), 0..5),
    );
    let result = runner.run(&strategy, |(steps, keys, duplicates)| {
        let world = World::run(&steps);
        let n = world.deliveries.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|i| (keys[*i], *i));
        if n > 0 {
            for (which, at) in &duplicates {
                let d = order[which % n];
                order.insert(at % (order.len() + 1), d);
            }
        }
        let canonical: Vec<&Delivery> = world.deliveries.iter().collect();
        let shuffled: Vec<&Delivery> = order.iter().map(|i| &world.deliveries[*i]).collect();
        let (expected, got) = rt.block_on(async {
            let a = new_adviser(&db).await;
            apply_all(&db, a, &canonical).await;
            let b = new_adviser(&db).await;
            apply_all(&db, b, &shuffled).await;
            (meetings(&db, a).await, meetings(&db, b).await)
        });

        // In canonical order the result is what Calendly says...
        let mut seen: Vec<crate::webhooks::ShownMeeting> = expected
            .iter()
            .map(|m| {
                let mut attendees: Vec<_> = m
                    .attendees
                    .iter()
                    .map(|a| {
                        (
                            a.name.clone(),
                            a.status == AttendeeStatus::Canceled,
                            a.no_show,
                        )
                    })
                    .collect();
                attendees.sort();
                (m.event_uri.clone(), m.status.as_str().to_owned(), attendees)
            })
            .collect();
        seen.sort();
        prop_assert_eq!(&seen, &world.expected(), "canonical order vs the model");
        // ...and any order, with duplicates, ends in the same state.
        prop_assert_eq!(&got, &expected, "order {:?}", order);
        Ok::<(), TestCaseError>(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
