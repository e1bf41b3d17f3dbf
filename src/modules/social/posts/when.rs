//! Reading times people enter: an RFC 3339 instant is taken as is; a local date-time (no
//! offset) is read in an IANA timezone, DST included. A local time that does not exist (the
//! hour skipped when clocks go forward) is refused with the nearest valid time; one that
//! happens twice (clocks go back) means its first occurrence.

use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::FieldError;

pub fn parse_tz(raw: &str) -> Result<Tz, FieldError> {
    Tz::from_str(raw.trim()).map_err(|_| {
        FieldError::new(
            "",
            "invalid_timezone",
            format!("`{raw}` is not an IANA timezone such as `Europe/Paris` or `UTC`."),
        )
    })
}

/// Why a local time cannot be placed on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub enum LocalTimeError {
    /// In the gap when clocks go forward; `next_valid` is the first valid local time after it.
    Nonexistent { next_valid: NaiveDateTime },
}

/// The instant of `local` in `tz`; the earlier one when it happens twice.
pub fn resolve(tz: Tz, local: NaiveDateTime) -> Result<DateTime<Utc>, LocalTimeError> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        LocalResult::None => {
            // Gaps are at most a few hours; find where valid time resumes, minute by minute.
            let mut probe = local;
            for _ in 0..(4 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return Err(LocalTimeError::Nonexistent { next_valid: t.naive_local() });
                }
            }
            Err(LocalTimeError::Nonexistent { next_valid: local + Duration::hours(1) })
        }
    }
}

/// Like [`resolve`], but a time in a gap moves forward by the gap (recurring slots: 02:30 on
/// the night clocks jump from 02:00 to 03:00 publishes at 03:30).
pub fn resolve_lenient(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match resolve(tz, local) {
        Ok(t) => t,
        Err(LocalTimeError::Nonexistent { .. }) => {
            let mut shifted = local;
            for _ in 0..4 {
                shifted += Duration::hours(1);
                if let Ok(t) = resolve(tz, shifted) {
                    return t;
                }
            }
            Utc.from_utc_datetime(&local)
        }
    }
}

const LOCAL_FORMATS: [&str; 4] =
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"];

/// Parses `scheduled_at`: an instant with an offset, or a local date-time read in `tz`.
pub fn parse_when(raw: &str, tz: Tz) -> Result<DateTime<Utc>, FieldError> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .ok_or_else(|| {
            FieldError::new(
                "",
                "invalid_datetime",
                "Use an ISO 8601 date-time: `2026-03-29T09:00` (read in `timezone`) or with an \
                 offset, `2026-03-29T09:00:00+02:00`.",
            )
        })?;
    resolve(tz, local).map_err(|LocalTimeError::Nonexistent { next_valid }| {
        FieldError::new(
            "",
            "nonexistent_local_time",
            format!(
                "{} does not exist in {tz}: the clocks skip that hour. Choose {} or later.",
                local.format("%Y-%m-%d %H:%M"),
                next_valid.format("%Y-%m-%d %H:%M")
            ),
        )
    })
}

/// The local date of `t` in `tz`.
pub fn local_date(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// `HH:MM` (or `HH:MM:SS`).
pub fn parse_time_of_day(raw: &str) -> Result<NaiveTime, FieldError> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(raw.trim(), "%H:%M:%S"))
        .map_err(|_| FieldError::new("", "invalid_time", "Use a 24-hour time such as `09:30`."))
}

/// The first instant of local day `date` in `tz` (DST-safe: midnight may not exist).
pub fn start_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    resolve_lenient(tz, date.and_time(NaiveTime::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris() -> Tz {
        parse_tz("Europe/Paris").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn local_times_across_the_spring_change() {
        // 29 March 2026: Paris moves from UTC+1 to UTC+2 at 02:00.
        assert_eq!(parse_when("2026-03-28T09:00", paris()).unwrap(), utc("2026-03-28T08:00:00Z"));
        assert_eq!(parse_when("2026-03-29T09:00", paris()).unwrap(), utc("2026-03-29T07:00:00Z"));
        let err = parse_when("2026-03-29T02:30", paris()).unwrap_err();
        assert_eq!(err.code, "nonexistent_local_time");
        assert!(err.message.contains("2026-03-29 03:00"), "{}", err.message);
        assert_eq!(
            resolve_lenient(paris(), "2026-03-29T02:30:00".parse().unwrap()),
            utc("2026-03-29T01:30:00Z")
        );
    }

    #[test]
    fn ambiguous_autumn_time_is_its_first_occurrence_and_offsets_win() {
        // 25 October 2026: 02:00–03:00 happens twice in Paris.
        assert_eq!(parse_when("2026-10-25T02:30", paris()).unwrap(), utc("2026-10-25T00:30:00Z"));
        assert_eq!(
            parse_when("2026-10-25T02:30:00+01:00", paris()).unwrap(),
            utc("2026-10-25T01:30:00Z")
        );
        assert_eq!(parse_when("2026-10-25 09:15", paris()).unwrap(), utc("2026-10-25T08:15:00Z"));
        assert!(parse_when("tomorrow", paris()).is_err());
        assert!(parse_tz("Mars/Olympus").is_err());
    }

    #[test]
    fn days_start_at_local_midnight() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        assert_eq!(start_of_day(d, paris()), utc("2026-03-28T23:00:00Z"));
        assert_eq!(local_date(utc("2026-03-29T22:30:00Z"), paris()).to_string(), "2026-03-30");
        assert_eq!(parse_time_of_day("9:05").unwrap().to_string(), "09:05:00");
    }
}
