//! One fault-injection run: set-up, the workload with its faults, and the final comparison.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use calendly::secrets::SigningKey;
use calendly::webhook::sign;
use calendly_sim::{Booking as SimBooking, Canceler, NewUser, SimConfig, SimUser, Simulator};
use sqlx::Connection;

use crate::instance::Instance;
use crate::ledger::{Booking, Fate, Ledger};
use crate::relay::Relay;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Postgres,
    Sqlite,
}

pub struct Plan {
    pub store: Store,
    /// Deliveries the workload causes (replays included).
    pub deliveries: usize,
    pub advisers: usize,
    /// How long the database is unreachable (PostgreSQL).
    pub outage: Duration,
    /// How long each Calendly API call takes while Calendly is slow.
    pub api_delay: Duration,
}

#[derive(Default)]
pub struct Report {
    pub store: Option<Store>,
    pub instances: usize,
    pub advisers: usize,
    pub bookings: usize,
    pub deliveries_caused: usize,
    pub replays: usize,
    pub attempts: usize,
    pub answered_503: usize,
    pub no_answer: usize,
    pub longest_answer_ms: u64,
    /// Longest answer to a delivery posted while the database was away.
    pub outage_answer_max_ms: u64,
    pub outage_answers: Vec<u16>,
    pub recoveries: Vec<(String, Duration)>,
    /// A Meetings page's live stream, open through the database outage: how soon after the
    /// database came back it delivered a new booking (`None`: it never did).
    pub live_caught_up: Option<Duration>,
    /// Whether that stream had to be reopened (as the browser does) rather than surviving.
    pub live_reopened: bool,
    pub settled_in: Duration,
    pub lost: usize,
    pub duplicated: usize,
    pub wrong_state: usize,
    pub wrong_adviser: usize,
    pub page_problems: usize,
    pub problems: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    pub fn assert_clean(&self) {
        assert!(
            self.lost == 0
                && self.duplicated == 0
                && self.wrong_state == 0
                && self.wrong_adviser == 0
                && self.page_problems == 0,
            "{self}"
        );
        assert!(
            self.outage_answer_max_ms <= 5_000,
            "a delivery waited {} ms for its answer while the database was away",
            self.outage_answer_max_ms
        );
        if self.store == Some(Store::Postgres) {
            assert!(
                self.live_caught_up.is_some(),
                "a live Meetings page did not catch up after the database outage"
            );
        }
        assert!(
            self.outage_answers.iter().all(|s| *s == 503),
            "while the database was away deliveries must get 503: {:?}",
            self.outage_answers
        );
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fault run on {:?}: {} instance(s), {} advisers, {} bookings, {} deliveries caused ({} replays), {:.0?}",
            self.store.unwrap_or(Store::Sqlite),
            self.instances,
            self.advisers,
            self.bookings,
            self.deliveries_caused,
            self.replays,
            self.elapsed
        )?;
        writeln!(
            f,
            "  Calendly's attempts: {} ({} answered 503, {} without an answer: instance down); longest answer {} ms",
            self.attempts, self.answered_503, self.no_answer, self.longest_answer_ms
        )?;
        writeln!(
            f,
            "  during the database outage: {} probe deliveries, answers {:?}, longest {} ms",
            self.outage_answers.len(),
            dedup(&self.outage_answers),
            self.outage_answer_max_ms
        )?;
        for (what, took) in &self.recoveries {
            writeln!(f, "  recovery after {what}: {took:.1?} (from the end of the fault until a new booking is stored)")?;
        }
        if let Some(took) = self.live_caught_up {
            writeln!(
                f,
                "  a live Meetings page open through the outage showed a new booking {took:.1?} after the database came back ({})",
                if self.live_reopened { "its stream was reopened" } else { "on the same stream" }
            )?;
        }
        writeln!(f, "  settled {:.1?} after the last fault", self.settled_in)?;
        writeln!(
            f,
            "  lost {}, duplicated {}, wrong state {}, wrong adviser {}, Meetings page problems {}",
            self.lost, self.duplicated, self.wrong_state, self.wrong_adviser, self.page_problems
        )?;
        for p in self.problems.iter().take(20) {
            writeln!(f, "    {p}")?;
        }
        Ok(())
    }
}

fn dedup(v: &[u16]) -> Vec<u16> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

struct Adviser {
    email: String,
    client: reqwest::Client,
    cal: SimUser,
    instance: usize,
    user_id: i64,
}

/// A small deterministic generator (the run is repeatable for a seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const PASSWORD: &str = "correct horse battery staple";
const ENCRYPTION_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

struct World {
    sim: Simulator,
    instances: Vec<Instance>,
    relay: Option<Relay>,
    direct_url: String,
    advisers: Vec<Adviser>,
    ledger: Ledger,
    rng: Rng,
    report: Report,
    key: SigningKey,
    http: reqwest::Client,
    serial: usize,
}

pub async fn run(plan: Plan) -> Report {
    let started = Instant::now();
    let sim = Simulator::start(SimConfig {
        retry_base: Duration::from_millis(500),
        ..SimConfig::default()
    })
    .await
    .expect("start the simulator");
    let dir = std::env::temp_dir().join(format!("advicly-faults-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (direct_url, app_url, relay, admin) = match plan.store {
        Store::Postgres => {
            let admin = std::env::var("TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("advicly_test_faults_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .await
                .unwrap();
            let upstream = url::Url::parse(&admin).unwrap();
            let host = format!(
                "{}:{}",
                upstream.host_str().unwrap_or("127.0.0.1"),
                upstream.port().unwrap_or(5432)
            );
            let relay = Relay::start(&host).await;
            let (base, _) = admin.rsplit_once('/').unwrap();
            let mut through = url::Url::parse(&format!("{base}/{name}")).unwrap();
            through.set_port(Some(relay.port)).unwrap();
            let _ = through.set_host(Some("127.0.0.1"));
            (
                format!("{base}/{name}"),
                through.to_string(),
                Some(relay),
                Some((admin, name)),
            )
        }
        Store::Sqlite => {
            let url = format!("sqlite://{}/faults.db?mode=rwc", dir.display());
            (url.clone(), url, None, None)
        }
    };
    let instances = match plan.store {
        Store::Postgres => 2,
        Store::Sqlite => 1,
    };
    let mut started_instances = Vec::new();
    for (i, name) in ["A", "B"].into_iter().take(instances).enumerate() {
        let data = dir.join(format!("data-{i}"));
        let env = HashMap::from([
            ("DATABASE_URL".to_string(), app_url.clone()),
            ("APP_DATA_DIR".into(), data.display().to_string()),
            (
                "LEPTOS_SITE_ROOT".into(),
                dir.join("site").display().to_string(),
            ),
            ("APP_ENCRYPTION_KEY".into(), ENCRYPTION_KEY.into()),
            ("CALENDLY_CLIENT_ID".into(), sim.config().client_id.clone()),
            (
                "CALENDLY_CLIENT_SECRET".into(),
                sim.config().client_secret.clone(),
            ),
            (
                "CALENDLY_WEBHOOK_SIGNING_KEY".into(),
                sim.config().webhook_signing_key.clone(),
            ),
            ("CALENDLY_AUTH_URL".into(), sim.base_url()),
            ("CALENDLY_API_URL".into(), sim.base_url()),
            ("APP_SYNC_INTERVAL_SECS".into(), "5".into()),
            ("APP_FULL_SYNC_INTERVAL_SECS".into(), "20".into()),
        ]);
        started_instances.push(Instance::start(name, env).await);
    }
    let key = SigningKey::new(sim.config().webhook_signing_key.clone());
    let mut world = World {
        sim,
        instances: started_instances,
        relay,
        direct_url,
        advisers: Vec::new(),
        ledger: Ledger::default(),
        rng: Rng(0x9E37_79B9_7F4A_7C15),
        report: Report {
            store: Some(plan.store),
            instances,
            advisers: plan.advisers,
            ..Report::default()
        },
        key,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        serial: 0,
    };
    for i in 0..plan.advisers {
        world.add_adviser(i % instances).await;
    }
    assert!(world.sim.wait_idle(Duration::from_secs(30)).await);

    world.workload(&plan).await;

    // Everything back to normal: Calendly delivers what it still holds, reconciliation repairs.
    let calm = Instant::now();
    world.sim.set_api_fault(Duration::ZERO, None);
    let _ = world.sim.wait_idle(Duration::from_secs(180)).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let clean = world.check_store().await;
        if clean || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    world.report.settled_in = calm.elapsed();
    world.check_pages().await;
    world.delivery_figures();
    world.report.bookings = world.ledger.bookings.values().map(Vec::len).sum();
    world.report.elapsed = started.elapsed();

    for instance in &mut world.instances {
        instance.kill().await;
    }
    if let Some((admin, name)) = admin {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::mem::take(&mut world.report)
}

impl World {
    async fn add_adviser(&mut self, instance: usize) {
        let i = self.advisers.len();
        let base = self.instances[instance].url.clone();
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let email = format!("adviser{i}-{}@example.com", uuid::Uuid::new_v4().simple());
        let r = client
            .post(format!("{base}/api/sign_up"))
            .form(&[("email", email.as_str()), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success() || r.status().is_redirection(),
            "sign-up: {}",
            r.status()
        );
        let cal = self.sim.create_user(NewUser {
            name: format!("Host {i}"),
            email: format!("host{i}-{}@calendly.example", uuid::Uuid::new_v4().simple()),
            timezone: "Europe/London".into(),
            ..Default::default()
        });
        let r = client
            .post(format!("{base}/api/calendly/connect"))
            .send()
            .await
            .unwrap();
        let authorize = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
        form.push(("decision".into(), "allow".into()));
        form.push(("email".into(), cal.email.clone()));
        form.push(("name".into(), cal.name.clone()));
        let consent = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}/oauth/authorize", self.sim.base_url()))
            .form(&form)
            .send()
            .await
            .unwrap();
        let callback = consent.headers()["location"].to_str().unwrap().to_owned();
        let landing = client.get(&callback).send().await.unwrap();
        assert_eq!(
            landing.headers()["location"],
            "/settings/calendar?connected=1"
        );
        let user_id = self.adviser_id(&email).await;
        self.advisers.push(Adviser {
            email,
            client,
            cal,
            instance,
            user_id,
        });
    }

    async fn direct(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.direct_url)
            .await
            .expect("the database, directly")
    }

    async fn adviser_id(&self, email: &str) -> i64 {
        let mut conn = self.direct().await;
        let (id,): (i64,) = sqlx::query_as("SELECT id FROM advisers WHERE email = $1")
            .bind(email)
            .fetch_one(&mut conn)
            .await
            .unwrap();
        id
    }

    async fn workload(&mut self, plan: &Plan) {
        let n = plan.deliveries;
        let mut next_fault = 0;
        // Every fault happens, even when an earlier one's busy phase overshot the total.
        while self.report.deliveries_caused < n || next_fault < 4 {
            let progress = self.report.deliveries_caused * 100 / n.max(1);
            if next_fault < 4 && progress >= [15, 35, 55, 75][next_fault] {
                let fault = next_fault;
                next_fault += 1;
                self.fault(fault, plan).await;
            }
            self.step().await;
            if self.report.deliveries_caused.is_multiple_of(8) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    /// One action at Calendly (or one replayed delivery), counted in the deliveries it causes.
    async fn step(&mut self) {
        let caused = self.act().await;
        self.report.deliveries_caused += caused;
    }

    async fn act(&mut self) -> usize {
        let a = self.rng.below(self.advisers.len());
        let active = self.ledger.active(a);
        let roll = self.rng.below(100);
        if active.is_empty() || roll < 40 {
            self.book(a);
            return 1;
        }
        let i = active[self.rng.below(active.len())];
        let invitee = self.ledger.bookings[&a][i].invitee_uri.clone();
        if roll < 58 {
            let by = if self.rng.chance(50) {
                Canceler::Host
            } else {
                Canceler::Invitee
            };
            self.sim
                .cancel(&invitee, by, Some("Something came up".into()))
                .unwrap();
            self.ledger.get_mut(a, i).fate = Fate::Canceled;
            1
        } else if roll < 76 {
            let start =
                chrono::Utc::now() + chrono::Duration::hours(24 + self.rng.below(24 * 90) as i64);
            let moved = self.sim.reschedule(&invitee, start).unwrap();
            let email = self.ledger.bookings[&a][i].email.clone();
            let j = self.ledger.add(
                a,
                Booking {
                    event_uri: moved.event_uri,
                    invitee_uri: moved.invitee_uri,
                    email,
                    fate: Fate::Active,
                    no_show: false,
                },
            );
            self.ledger.get_mut(a, i).fate = Fate::MovedTo(j);
            2
        } else if roll < 90 {
            let b = self.ledger.get_mut(a, i);
            if b.no_show {
                self.sim.unmark_no_show(&invitee).unwrap();
            } else {
                self.sim.mark_no_show(&invitee).unwrap();
            }
            b.no_show = !b.no_show;
            1
        } else {
            self.replay(false).await;
            1
        }
    }

    fn book(&mut self, a: usize) -> usize {
        self.serial += 1;
        let n = self.serial;
        let start =
            chrono::Utc::now() + chrono::Duration::hours(24 + self.rng.below(24 * 90) as i64);
        let email = format!("invitee{n}@example.com");
        let booked = self
            .sim
            .book(SimBooking {
                host: self.advisers[a].cal.uri.clone(),
                event_name: Some(format!("Review {n}")),
                start_time: start,
                invitee_name: format!("Invitee {n}"),
                invitee_email: email.clone(),
                ..Default::default()
            })
            .expect("booking at the simulator");
        self.ledger.add(
            a,
            Booking {
                event_uri: booked.event_uri,
                invitee_uri: booked.invitee_uri,
                email,
                fate: Fate::Active,
                no_show: false,
            },
        )
    }

    /// Re-sends an earlier delivery, signed now, as Calendly's duplicates arrive: out of order.
    /// Returns the answer's status and how long it took.
    async fn replay(&mut self, probe: bool) -> Option<(u16, u64)> {
        let attempts = self.sim.deliveries();
        if attempts.is_empty() {
            return None;
        }
        let attempt = &attempts[self.rng.below(attempts.len())];
        let t = chrono::Utc::now().timestamp();
        let signature = format!("t={t},v1={}", sign(&self.key, t, attempt.body.as_bytes()));
        let started = Instant::now();
        let answer = self
            .http
            .post(&attempt.callback_url)
            .header("content-type", "application/json")
            .header("Calendly-Webhook-Signature", signature)
            .body(attempt.body.clone())
            .send()
            .await;
        if !probe {
            self.report.replays += 1;
        }
        answer
            .ok()
            .map(|r| (r.status().as_u16(), started.elapsed().as_millis() as u64))
    }

    async fn fault(&mut self, fault: usize, plan: &Plan) {
        match fault {
            0 => self.kill_and_restart(0).await,
            1 => {
                if self.relay.is_none() {
                    return; // SQLite: the database is a local file
                }
                // A Meetings page open through the outage: it must catch up on its own.
                let mut page = LivePage::open(&self.advisers[0], &self.instances[0].url).await;
                let relay = self.relay.as_ref().unwrap();
                relay.cut();
                let until = Instant::now() + plan.outage;
                while Instant::now() < until {
                    for _ in 0..6 {
                        self.step().await;
                    }
                    if let Some((status, ms)) = self.replay(true).await {
                        self.report.outage_answers.push(status);
                        self.report.outage_answer_max_ms = self.report.outage_answer_max_ms.max(ms);
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                self.relay.as_ref().unwrap().restore();
                let back = Instant::now();
                let (took, probe) = self.probe(0).await;
                self.report
                    .recoveries
                    .push((format!("the database was away for {:?}", plan.outage), took));
                let caught_up = match probe {
                    Some(meeting) => {
                        page.change_of(
                            meeting,
                            &self.advisers[0],
                            &self.instances[0].url,
                            Duration::from_secs(30),
                        )
                        .await
                    }
                    None => None,
                };
                self.report.live_caught_up = caught_up.map(|_| back.elapsed());
                self.report.live_reopened = page.reopened;
            }
            2 if self.instances.len() > 1 => self.kill_and_restart(1).await,
            2 => {}
            _ => {
                // Calendly slow, then failing, while reconciliation runs (every 5 s).
                self.sim.set_api_fault(plan.api_delay, None);
                self.busy_for(Duration::from_secs(12)).await;
                self.sim.set_api_fault(Duration::ZERO, Some(500));
                self.busy_for(Duration::from_secs(8)).await;
                self.sim.set_api_fault(Duration::ZERO, None);
                let took = self.probe_recovery(0).await;
                self.report
                    .recoveries
                    .push(("Calendly's API was slow, then answered 500".into(), took));
            }
        }
    }

    async fn busy_for(&mut self, d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            for _ in 0..10 {
                self.step().await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn kill_and_restart(&mut self, i: usize) {
        self.instances[i].kill().await;
        self.busy_for(Duration::from_millis(1500)).await;
        let restart = self.instances[i].restart().await;
        let took = restart + self.probe_recovery(i).await;
        let name = self.instances[i].name;
        self.report
            .recoveries
            .push((format!("SIGKILL of instance {name} and restart"), took));
    }

    /// Books for an adviser served by `instance`; how long until the meeting is stored.
    async fn probe_recovery(&mut self, instance: usize) -> Duration {
        self.probe(instance).await.0
    }

    /// As [`World::probe_recovery`], with the stored meeting's id.
    async fn probe(&mut self, instance: usize) -> (Duration, Option<i64>) {
        let started = Instant::now();
        let a = self
            .advisers
            .iter()
            .position(|x| x.instance == instance)
            .unwrap_or(0);
        let i = self.book(a);
        self.report.deliveries_caused += 1;
        let event = self.ledger.bookings[&a][i].event_uri.clone();
        let user = self.advisers[a].user_id;
        let mut conn = self.direct().await;
        while started.elapsed() < Duration::from_secs(120) {
            let found: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM meetings WHERE user_id = $1 AND event_uri = $2")
                    .bind(user)
                    .bind(&event)
                    .fetch_optional(&mut conn)
                    .await
                    .unwrap_or(None);
            if let Some((id,)) = found {
                return (started.elapsed(), Some(id));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (started.elapsed(), None)
    }

    /// Compares the database with the ledger; true when it holds exactly what happened.
    async fn check_store(&mut self) -> bool {
        let mut conn = self.direct().await;
        let meetings: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT user_id, event_uri, status FROM meetings")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let attendees: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
            "SELECT user_id, invitee_uri, status, rescheduled, no_show FROM attendees",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let meeting: HashMap<(i64, &str), &str> = meetings
            .iter()
            .map(|(u, e, s)| ((*u, e.as_str()), s.as_str()))
            .collect();
        let attendee: HashMap<(i64, &str), (&str, i64, i64)> = attendees
            .iter()
            .map(|(u, i, s, r, n)| ((*u, i.as_str()), (s.as_str(), *r, *n)))
            .collect();
        let (mut lost, mut wrong, mut misplaced, mut extra) = (0, 0, 0, 0);
        let mut problems = Vec::new();
        let owners = self.ledger.owner_of();
        let user_of: HashMap<usize, i64> = self
            .advisers
            .iter()
            .enumerate()
            .map(|(i, a)| (i, a.user_id))
            .collect();
        for (a, list) in &self.ledger.bookings {
            let u = user_of[a];
            for b in list {
                let (want_meeting, want_attendee, want_rescheduled) = match b.fate {
                    Fate::Active => ("active", "active", 0),
                    Fate::Canceled => ("canceled", "canceled", 0),
                    Fate::MovedTo(_) => ("rescheduled", "canceled", 1),
                };
                match (
                    meeting.get(&(u, b.event_uri.as_str())),
                    attendee.get(&(u, b.invitee_uri.as_str())),
                ) {
                    (None, _) | (_, None) => {
                        lost += 1;
                        problems.push(format!("lost: adviser {a} {} ({:?})", b.email, b.fate));
                    }
                    (Some(m), Some((s, r, n))) => {
                        if *m != want_meeting
                            || *s != want_attendee
                            || *r != want_rescheduled
                            || (*n == 1) != b.no_show
                        {
                            wrong += 1;
                            problems.push(format!(
                                "wrong state: adviser {a} {}: meeting {m}, invitee {s} rescheduled={r} no_show={n}; expected {:?} no_show={}",
                                b.email, b.fate, b.no_show
                            ));
                        }
                    }
                }
            }
        }
        for (u, e, _) in &meetings {
            match owners.get(e.as_str()) {
                Some(owner) if user_of[owner] == *u => {}
                Some(owner) => {
                    misplaced += 1;
                    problems.push(format!(
                        "adviser {owner}'s meeting {e} is stored for user {u}"
                    ));
                }
                None => {
                    extra += 1;
                    problems.push(format!("a meeting nobody booked: {e} for user {u}"));
                }
            }
        }
        let r = &mut self.report;
        r.lost = lost;
        r.wrong_state = wrong;
        r.wrong_adviser = misplaced;
        r.duplicated = extra;
        r.problems = problems;
        lost + wrong + misplaced + extra == 0
    }

    /// Every adviser's Meetings page (the server function the page renders from) shows each of
    /// their bookings once, in its final state, and nobody else's.
    async fn check_pages(&mut self) {
        let mut problems = Vec::new();
        let all_emails: HashMap<String, usize> = self
            .ledger
            .bookings
            .iter()
            .flat_map(|(a, list)| list.iter().map(move |b| (b.email.clone(), *a)))
            .collect();
        for (a, adviser) in self.advisers.iter().enumerate() {
            let base = &self.instances[adviser.instance].url;
            // Every meeting, page by page: the upcoming list and the past one.
            let mut listed = Vec::new();
            for show in ["upcoming", "past"] {
                for page in 0.. {
                    let answer: serde_json::Value = adviser
                        .client
                        .post(format!("{base}/api/list_meetings"))
                        .form(&[("show", show), ("page", &page.to_string())])
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let list = answer[show].as_array().cloned().unwrap_or_default();
                    let total = answer[format!("{show}_total")].as_i64().unwrap_or(0);
                    let done = list.is_empty()
                        || (page + 1) * answer["page_size"].as_i64().unwrap_or(50) >= total;
                    listed.extend(list);
                    if done {
                        break;
                    }
                }
            }
            let mut shown: HashMap<String, Vec<(bool, bool)>> = HashMap::new();
            for m in &listed {
                for inv in m["invitees"].as_array().into_iter().flatten() {
                    shown
                        .entry(inv["email"].as_str().unwrap_or("").to_owned())
                        .or_default()
                        .push((
                            inv["canceled"].as_bool().unwrap_or(false),
                            inv["no_show"].as_bool().unwrap_or(false),
                        ));
                }
            }
            let expected: HashMap<&str, (bool, bool)> = self
                .ledger
                .bookings
                .get(&a)
                .into_iter()
                .flatten()
                .filter(|b| !matches!(b.fate, Fate::MovedTo(_)))
                .map(|b| (b.email.as_str(), (b.fate == Fate::Canceled, b.no_show)))
                .collect();
            for (email, want) in &expected {
                match shown.get(*email).map(Vec::as_slice) {
                    None | Some([]) => problems.push(format!(
                        "adviser {a} ({}): {email} not on the page",
                        adviser.email
                    )),
                    Some([got]) if got == want => {}
                    Some([got]) => problems.push(format!(
                        "adviser {a}: {email} shown as {got:?}, expected {want:?}"
                    )),
                    Some(many) => {
                        problems.push(format!("adviser {a}: {email} shown {} times", many.len()))
                    }
                }
            }
            for email in shown.keys() {
                if !expected.contains_key(email.as_str()) {
                    let owner = all_emails.get(email);
                    problems.push(format!(
                        "adviser {a}'s page shows {email} (adviser {owner:?}'s)"
                    ));
                }
            }
        }
        self.report.page_problems = problems.len();
        self.report.problems.extend(problems);
    }

    fn delivery_figures(&mut self) {
        let attempts = self.sim.deliveries();
        let r = &mut self.report;
        r.attempts = attempts.len();
        r.answered_503 = attempts.iter().filter(|a| a.status == Some(503)).count();
        r.no_answer = attempts.iter().filter(|a| a.status.is_none()).count();
        r.longest_answer_ms = attempts.iter().map(|a| a.elapsed_ms).max().unwrap_or(0);
    }
}

/// A Meetings page's live stream (`/api/meetings/stream`), read as the browser's EventSource
/// does: when the server ends it, it is reopened with `Last-Event-ID`.
struct LivePage {
    response: Option<reqwest::Response>,
    buffer: String,
    last_id: Option<String>,
    reopened: bool,
}

impl LivePage {
    async fn open(adviser: &Adviser, base: &str) -> LivePage {
        let mut page = LivePage {
            response: None,
            buffer: String::new(),
            last_id: None,
            reopened: false,
        };
        page.connect(adviser, base).await;
        page
    }

    async fn connect(&mut self, adviser: &Adviser, base: &str) {
        let mut request = adviser
            .client
            .get(format!("{base}/api/meetings/stream"))
            .header("accept", "text/event-stream")
            .timeout(Duration::from_secs(3600));
        if let Some(id) = &self.last_id {
            request = request.header("last-event-id", id.clone());
        }
        self.response = request.send().await.ok().filter(|r| r.status() == 200);
    }

    /// Waits for a `change` event naming `meeting`, reopening the stream when it ends.
    async fn change_of(
        &mut self,
        meeting: i64,
        adviser: &Adviser,
        base: &str,
        max: Duration,
    ) -> Option<()> {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                for line in block.lines() {
                    if let Some(id) = line.strip_prefix("id:") {
                        self.last_id = Some(id.trim().to_owned());
                    }
                }
                let names_it = block.lines().any(|l| {
                    l.strip_prefix("data:")
                        .is_some_and(|d| d.trim().split(',').any(|id| id == meeting.to_string()))
                });
                if names_it {
                    return Some(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            let chunk = match self.response.as_mut() {
                Some(r) => tokio::time::timeout_at(deadline, r.chunk()).await.ok()?,
                None => Ok(None),
            };
            match chunk {
                Ok(Some(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => {
                    // Ended or refused: the browser reopens after a pause.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    self.reopened = true;
                    self.connect(adviser, base).await;
                }
            }
        }
    }
}
