//! Sandbox mode's invitee page: book, cancel and reschedule test meetings with the signed-in
//! adviser's (simulated) Calendly account, to see the whole flow without a Calendly account.

mod page;

pub use page::SandboxPage;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SandboxBooking {
    pub invitee_uri: String,
    pub title: String,
    pub invitee: String,
    pub when: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SandboxView {
    /// The simulated Calendly account meetings are booked with (the adviser's connection).
    pub host: Option<String>,
    pub timezone: String,
    /// The booking form's suggested start: the next working day at 10:00 in `timezone`, as a
    /// `datetime-local` value, so the first test booking is one click.
    pub suggested_start: String,
    pub bookings: Vec<SandboxBooking>,
}

#[cfg(feature = "ssr")]
pub use server::{NewBooking, Sandbox, SandboxCalendly};

#[cfg(feature = "ssr")]
mod server {
    use std::sync::Arc;

    use backend::accounts::AdviserId;
    use chrono::TimeZone;

    use crate::error::AppError;

    /// A test booking made as an invitee of the adviser's (simulated) Calendly account.
    #[derive(Clone, Debug, PartialEq)]
    pub struct NewBooking {
        pub host_uri: String,
        pub title: String,
        pub start_time: chrono::DateTime<chrono::Utc>,
        pub minutes: i64,
        pub invitee_name: String,
        pub invitee_email: String,
        pub timezone: String,
    }

    /// What the sandbox page needs from the simulated Calendly: to act as an invitee. The server
    /// implements it over its simulator and provides it (as [`Sandbox`], in the Leptos context)
    /// in sandbox mode only. Errors are the simulator's refusal, in words.
    pub trait SandboxCalendly: Send + Sync + 'static {
        fn book(&self, booking: NewBooking) -> Result<(), String>;
        fn cancel(&self, invitee_uri: &str, reason: Option<String>) -> Result<(), String>;
        fn reschedule(
            &self,
            invitee_uri: &str,
            start: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), String>;
    }

    /// The sandbox Calendly, present in the Leptos context only in sandbox mode.
    #[derive(Clone)]
    pub struct Sandbox(pub Arc<dyn SandboxCalendly>);

    pub struct Host {
        pub sim: Sandbox,
        pub user_uri: String,
        pub name: String,
        pub timezone: String,
    }

    /// The sandbox Calendly and the adviser's connected (simulated) Calendly user; outside
    /// sandbox mode, not found.
    pub async fn host(
        state: &backend::AppState,
        adviser: AdviserId,
    ) -> Result<Option<Host>, AppError> {
        let sim = leptos::prelude::use_context::<Sandbox>().ok_or(AppError::NotFound)?;
        let connection = backend::connections::load(&state.db, adviser).await?;
        Ok(connection
            .filter(|c| c.status == backend::connections::ConnectionStatus::Connected)
            .map(|c| Host {
                sim,
                user_uri: c.calendly_user_uri,
                name: c.calendly_name,
                timezone: c.timezone,
            }))
    }

    /// A `datetime-local` value ("2026-11-24T15:30") read in the host's timezone.
    pub fn parse_local(
        value: &str,
        timezone: &str,
    ) -> Result<chrono::DateTime<chrono::Utc>, AppError> {
        let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
        let naive = chrono::NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%dT%H:%M")
            .map_err(|_| AppError::Invalid("Enter a start date and time.".into()))?;
        tz.from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok_or_else(|| AppError::Invalid("That time does not exist in this timezone.".into()))
    }

    /// The next working day (Monday to Friday) after `now`, at 10:00 in `timezone`, as a
    /// `datetime-local` value ("2026-12-03T10:00").
    pub fn next_working_day_at_ten(now: chrono::DateTime<chrono::Utc>, timezone: &str) -> String {
        use chrono::Datelike;
        let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
        let mut day = now.with_timezone(&tz).date_naive();
        loop {
            day = day.succ_opt().unwrap_or(day);
            if !matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun) {
                return format!("{}T10:00", day.format("%Y-%m-%d"));
            }
        }
    }

    /// The signed-in adviser's sandbox host, if `invitee` is one of their own bookings.
    pub async fn host_of_booking(invitee: &str) -> Result<Host, AppError> {
        let state = crate::server::state()?;
        let adviser = crate::server::current_adviser().await?;
        let host = host(&state, adviser.id)
            .await?
            .ok_or_else(|| AppError::Invalid("Connect Calendly first.".into()))?;
        // Only bookings with this adviser's own Calendly account may be changed from their page.
        if !backend::meetings::has_invitee(&state.db, adviser.id, invitee).await? {
            return Err(AppError::NotFound);
        }
        Ok(host)
    }

    pub fn sim_error(err: String) -> AppError {
        AppError::Invalid(format!("The sandbox Calendly refused: {err}"))
    }

    #[cfg(test)]
    mod tests {
        use super::next_working_day_at_ten;
        use chrono::TimeZone;

        #[test]
        fn the_suggested_start_is_the_next_working_day_at_ten_in_the_hosts_zone() {
            let wednesday = chrono::Utc.with_ymd_and_hms(2026, 12, 2, 15, 0, 0).unwrap();
            assert_eq!(
                next_working_day_at_ten(wednesday, "Europe/London"),
                "2026-12-03T10:00"
            );
            let friday = chrono::Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap();
            assert_eq!(
                next_working_day_at_ten(friday, "Europe/London"),
                "2026-12-07T10:00"
            );
            // Late Sunday in UTC is already Monday in Tokyo: the next working day is Tuesday.
            let sunday_night = chrono::Utc.with_ymd_and_hms(2026, 12, 6, 20, 0, 0).unwrap();
            assert_eq!(
                next_working_day_at_ten(sunday_night, "Asia/Tokyo"),
                "2026-12-08T10:00"
            );
        }
    }
}

/// The adviser's sandbox host and upcoming test bookings.
#[server(prefix = "/api", endpoint = "sandbox_overview")]
pub async fn sandbox_overview() -> Result<SandboxView, AppError> {
    let state = crate::server::state()?;
    let adviser = crate::server::current_adviser().await?;
    let Some(host) = server::host(&state, adviser.id).await? else {
        return Ok(SandboxView {
            host: None,
            timezone: "UTC".into(),
            suggested_start: String::new(),
            bookings: Vec::new(),
        });
    };
    let user = calendly::ids::CalendlyUserUri::parse(&host.user_uri).map_err(AppError::internal)?;
    let now = state.clock.now();
    let bookings = backend::connections::upcoming_invitees(&state, adviser.id, user, now)
        .await
        .map_err(|e| AppError::Unavailable(format!("The sandbox Calendly could not be read: {e}")))?
        .into_iter()
        .map(|b| SandboxBooking {
            invitee_uri: b.invitee_uri,
            title: b.title,
            invitee: b.invitee_name,
            when: crate::server::format_time(b.start_time.timestamp_millis(), &host.timezone),
        })
        .collect();
    Ok(SandboxView {
        host: Some(host.name),
        suggested_start: server::next_working_day_at_ten(now, &host.timezone),
        timezone: host.timezone,
        bookings,
    })
}

/// Books a test meeting with the adviser's sandbox Calendly account, as an invitee.
#[server(prefix = "/api", endpoint = "sandbox_book")]
pub async fn sandbox_book(
    name: String,
    email: String,
    title: String,
    start: String,
    minutes: i64,
) -> Result<(), AppError> {
    let state = crate::server::state()?;
    let adviser = crate::server::current_adviser().await?;
    let host = server::host(&state, adviser.id)
        .await?
        .ok_or_else(|| AppError::Invalid("Connect Calendly first.".into()))?;
    let (name, email, title) = (
        name.trim().to_owned(),
        email.trim().to_owned(),
        title.trim().to_owned(),
    );
    if name.is_empty() || !email.contains('@') {
        return Err(AppError::Invalid(
            "Enter the invitee's name and email.".into(),
        ));
    }
    if !(5..=480).contains(&minutes) {
        return Err(AppError::Invalid(
            "Choose a duration between 5 and 480 minutes.".into(),
        ));
    }
    let start_time = server::parse_local(&start, &host.timezone)?;
    host.sim
        .0
        .book(NewBooking {
            host_uri: host.user_uri,
            title: if title.is_empty() {
                "30 Minute Meeting".into()
            } else {
                title
            },
            start_time,
            minutes,
            invitee_name: name,
            invitee_email: email,
            timezone: host.timezone,
        })
        .map_err(server::sim_error)?;
    Ok(())
}

/// Cancels a test booking as its invitee.
#[server(prefix = "/api", endpoint = "sandbox_cancel")]
pub async fn sandbox_cancel(invitee: String, reason: String) -> Result<(), AppError> {
    let host = server::host_of_booking(&invitee).await?;
    let reason = Some(reason.trim().to_owned()).filter(|r| !r.is_empty());
    host.sim
        .0
        .cancel(&invitee, reason)
        .map_err(server::sim_error)
}

/// Moves a test booking to a new start time as its invitee.
#[server(prefix = "/api", endpoint = "sandbox_reschedule")]
pub async fn sandbox_reschedule(invitee: String, start: String) -> Result<(), AppError> {
    let host = server::host_of_booking(&invitee).await?;
    let new_start = server::parse_local(&start, &host.timezone)?;
    host.sim
        .0
        .reschedule(&invitee, new_start)
        .map_err(server::sim_error)
}
